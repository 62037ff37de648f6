package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// The security plugins through the real binary (plugins.md §4): ip-restriction,
// ua-restriction, referer-restriction, uri-blocker, cors and csrf.
func TestPluginsSecurity(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)

	putAll(t, n, o, [][2]string{
		{"/routes/ip-black", routeJSON(o, "/ip-black", `{"ip-restriction":{"blacklist":["127.0.0.1"]}}`)},
		{"/routes/ip-white", routeJSON(o, "/ip-white", `{"ip-restriction":{"whitelist":["10.0.0.0/8"],"response_code":404,"message":"nope"}}`)},
		{"/routes/ip-cidr", routeJSON(o, "/ip-cidr", `{"ip-restriction":{"whitelist":["127.0.0.0/24","::1"]}}`)},
		{"/routes/ua-deny", routeJSON(o, "/ua-deny", `{"ua-restriction":{"denylist":["^curl/","Bot"]}}`)},
		{"/routes/ua-allow", routeJSON(o, "/ua-allow", `{"ua-restriction":{"allowlist":["Mozilla"],"bypass_missing":true,"message":"who are you"}}`)},
		{"/routes/ref", routeJSON(o, "/ref", `{"referer-restriction":{"whitelist":["*.example.com","exact.org"]}}`)},
		{"/routes/ref-bypass", routeJSON(o, "/ref-bypass", `{"referer-restriction":{"blacklist":["evil.com"],"bypass_missing":true}}`)},
		{"/routes/ub", routeJSON(o, "/ub/*", `{"uri-blocker":{"block_rules":["root\\.exe","^/ub/admin"],"rejected_msg":"access is not allowed"}}`)},
		{"/routes/ub-plain", routeJSON(o, "/ub-plain/*", `{"uri-blocker":{"block_rules":["secret"],"case_insensitive":true}}`)},
		{"/routes/cors", routeJSON(o, "/cors", `{"cors":{}}`)},
		{"/routes/cors-list", routeJSON(o, "/cors-list", `{"cors":{"allow_origins":"http://a.com,http://b.com:8080","allow_methods":"**",`+
			`"allow_headers":"**","expose_headers":"X-Ex","max_age":60,"allow_credential":true}}`)},
		{"/routes/cors-re", routeJSON(o, "/cors-re", `{"cors":{"allow_origins_by_regex":["^http://.*\\.test\\.com$"]}}`)},
		{"/routes/csrf", routeJSON(o, "/csrf", `{"csrf":{"key":"csrf-secret"}}`)},
	})

	corsDefault := map[string]string{
		"Access-Control-Allow-Origin":      "*",
		"Access-Control-Allow-Methods":     "*",
		"Access-Control-Allow-Headers":     "*",
		"Access-Control-Max-Age":           "5",
		"Access-Control-Expose-Headers":    "",
		"Access-Control-Allow-Credentials": "",
		"Vary":                             "",
	}
	runCases(t, n, []pcase{
		// ip-restriction (§4)
		{name: "ip-restriction/blacklisted", req: req{path: "/ip-black"}, status: 403,
			body: jsonLine(`{"message":"Your IP address is not allowed"}`)},
		{name: "ip-restriction/not whitelisted, response_code and message", req: req{path: "/ip-white"}, status: 404,
			body: jsonLine(`{"message":"nope"}`)},
		{name: "ip-restriction/whitelisted CIDR", req: req{path: "/ip-cidr"}, status: 200},

		// ua-restriction (§4)
		{name: "ua-restriction/denied", req: req{path: "/ua-deny", header: []string{"User-Agent: curl/8.5"}}, status: 403,
			body: jsonLine(`{"message":"Not allowed"}`)},
		{name: "ua-restriction/denied unanchored", req: req{path: "/ua-deny", header: []string{"User-Agent: my Bot 1"}}, status: 403},
		{name: "ua-restriction/not denied", req: req{path: "/ua-deny", header: []string{"User-Agent: Mozilla/5.0"}}, status: 200},
		{name: "ua-restriction/missing UA blocks", req: req{path: "/ua-deny", header: []string{"User-Agent:"}}, status: 403,
			body: jsonLine(`{"message":"Not allowed"}`)},
		{name: "ua-restriction/allowlist miss", req: req{path: "/ua-allow", header: []string{"User-Agent: curl/8"}}, status: 403,
			body: jsonLine(`{"message":"who are you"}`)},
		{name: "ua-restriction/allowlist hit", req: req{path: "/ua-allow", header: []string{"User-Agent: Mozilla/5.0"}}, status: 200},
		{name: "ua-restriction/bypass_missing", req: req{path: "/ua-allow", header: []string{"User-Agent:"}}, status: 200},

		// referer-restriction (§4)
		{name: "referer-restriction/wildcard", req: req{path: "/ref", header: []string{"Referer: https://www.example.com/a"}}, status: 200},
		{name: "referer-restriction/exact", req: req{path: "/ref", header: []string{"Referer: http://exact.org:8080/"}}, status: 200},
		{name: "referer-restriction/not listed", req: req{path: "/ref", header: []string{"Referer: https://example.com.evil/"}}, status: 403,
			body: jsonLine(`{"message":"Your referer host is not allowed"}`)},
		{name: "referer-restriction/missing blocks", req: req{path: "/ref"}, status: 403},
		{name: "referer-restriction/blacklisted", req: req{path: "/ref-bypass", header: []string{"Referer: http://evil.com/"}}, status: 403},
		{name: "referer-restriction/bypass_missing", req: req{path: "/ref-bypass"}, status: 200},

		// uri-blocker (§4)
		{name: "uri-blocker/rule in path", req: req{path: "/ub/x/root.exe"}, status: 403,
			body: jsonLine(`{"error_msg":"access is not allowed"}`)},
		{name: "uri-blocker/anchored rule", req: req{path: "/ub/admin/1"}, status: 403},
		{name: "uri-blocker/rule in query", req: req{path: "/ub/ok?f=root.exe"}, status: 403},
		{name: "uri-blocker/passes", req: req{path: "/ub/ok"}, status: 200},
		{name: "uri-blocker/no rejected_msg sends the nginx page", req: req{path: "/ub-plain/SeCrEt"}, status: 403,
			body: errPage(403, "Forbidden")},

		// cors (§4)
		{name: "cors/defaults", req: req{path: "/cors", header: []string{"Origin: http://x.com"}}, status: 200, header: corsDefault},
		{name: "cors/any OPTIONS is answered 200 empty", status: 200, noBody: true,
			req:    req{method: "OPTIONS", path: "/cors", header: []string{"Origin: http://x.com", "Access-Control-Request-Method: PUT"}},
			header: map[string]string{"Access-Control-Allow-Origin": "*", "X-Origin": ""}},
		{name: "cors/listed origin", req: req{path: "/cors-list", header: []string{"Origin: http://b.com:8080", "Access-Control-Request-Headers: X-A, X-B"}},
			status: 200, header: map[string]string{
				"Access-Control-Allow-Origin":      "http://b.com:8080",
				"Access-Control-Allow-Methods":     "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE",
				"Access-Control-Allow-Headers":     "X-A, X-B",
				"Access-Control-Expose-Headers":    "X-Ex",
				"Access-Control-Max-Age":           "60",
				"Access-Control-Allow-Credentials": "true",
				"Vary":                             "Origin",
			}},
		{name: "cors/unlisted origin gets only Vary", req: req{path: "/cors-list", header: []string{"Origin: http://c.com"}}, status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{name: "cors/origin by regex", req: req{path: "/cors-re", header: []string{"Origin: http://a.test.com"}}, status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": "http://a.test.com"}},
		{name: "cors/origin not matching regex", req: req{path: "/cors-re", header: []string{"Origin: http://a.test.org"}}, status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": ""}},

		// csrf (§4)
		{name: "csrf/GET passes and gets a cookie", req: req{path: "/csrf"}, status: 200,
			check: func(t *testing.T, r response) {
				c := r.Header.Get("Set-Cookie")
				if !strings.HasPrefix(c, "apisix-csrf-token=") || !strings.Contains(c, ";path=/;SameSite=Lax;Expires=") {
					t.Errorf("Set-Cookie %q", c)
				}
			}},
		{name: "csrf/POST without header", req: req{method: "POST", path: "/csrf"}, status: 401,
			body: jsonLine(`{"error_msg":"no csrf token in headers"}`)},
		{name: "csrf/POST without cookie", req: req{method: "POST", path: "/csrf", header: []string{"apisix-csrf-token: x"}}, status: 401,
			body: jsonLine(`{"error_msg":"no csrf cookie"}`)},
		{name: "csrf/mismatch", req: req{method: "POST", path: "/csrf", header: []string{"apisix-csrf-token: x", "Cookie: apisix-csrf-token=y"}},
			status: 401, body: jsonLine(`{"error_msg":"csrf token mismatch"}`)},
		{name: "csrf/bad signature", req: req{method: "POST", path: "/csrf", header: []string{"apisix-csrf-token: eA==", "Cookie: apisix-csrf-token=eA=="}},
			status: 401, body: jsonLine(`{"error_msg":"Failed to verify the csrf token signature"}`)},
	})

	t.Run("csrf/the issued token passes", func(t *testing.T) {
		r := send(t, n, req{path: "/csrf"})
		cookie := (&http.Response{Header: r.Header}).Cookies()
		if len(cookie) != 1 {
			t.Fatalf("cookies %v", r.Header.Values("Set-Cookie"))
		}
		tok := cookie[0].Value
		r = send(t, n, req{method: "POST", path: "/csrf", body: "x",
			header: []string{"apisix-csrf-token: " + tok, "Cookie: apisix-csrf-token=" + tok}})
		if r.Status != 200 || originSaw(t, r).Body != "x" {
			t.Errorf("POST with token: %d %q", r.Status, r.Body)
		}
	})
}
