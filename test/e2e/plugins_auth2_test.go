package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hmacAuthorization builds an hmac-auth Authorization header (plugins.md §3 hmac-auth): the
// signing string is keyId + "\n", then for each name of headers "<name>: <value>\n" (value
// from hdr) or "<METHOD> <request_uri>\n" for @request-target; HMAC-SHA256, base64.
func hmacAuthorization(keyID, secret, method, requestURI string, headers []string, hdr map[string]string) string {
	var b strings.Builder
	b.WriteString(keyID + "\n")
	for _, name := range headers {
		if name == "@request-target" {
			b.WriteString(method + " " + requestURI + "\n")
			continue
		}
		b.WriteString(name + ": " + hdr[name] + "\n")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(b.String()))
	return fmt.Sprintf(`Signature keyId="%s",algorithm="hmac-sha256",headers="%s",signature="%s"`,
		keyID, strings.Join(headers, " "), base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// hmac-auth and forward-auth through the real binary (plugins.md §3), with APISIX's exact
// statuses, bodies and headers.
func TestPluginsAuth2(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)

	// The authorization service: /auth denies when the forwarded URI asks for it, else allows
	// and hands the upstream an identity (and echoes what the gateway sent it).
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fwd := r.Header.Get("X-Forwarded-Uri")
		if strings.Contains(fwd, "deny") {
			w.Header().Set("X-Reason", "no entry")
			w.Header().Set("X-Not-Listed", "hidden")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "denied by the auth service")
			return
		}
		w.Header().Set("X-User-Id", "u-42")
		w.Header().Set("X-Auth-Saw", r.Method+" "+fwd+" "+r.Header.Get("X-Forwarded-Method")+" "+
			r.Header.Get("X-Route")+" "+r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(auth.Close)
	downURI := fmt.Sprintf("http://127.0.0.1:%d/auth", freePort(t)) // nothing listens there

	faConf := func(uri, extra string) string {
		return `{"forward-auth":{"uri":"` + uri + `","request_headers":["Authorization"],"extra_headers":{"X-Route":"$route_id"},` +
			`"upstream_headers":["X-User-Id","X-Auth-Saw","X-Spoof"],"client_headers":["X-Reason"]` + extra + `}}`
	}
	putAll(t, n, o, [][2]string{
		{"/consumers", `{"username":"jack","plugins":{"hmac-auth":{"key_id":"jack-hmac","secret_key":"hmac-secret"}}}`},
		{"/routes/hm", routeJSON(o, "/hm", `{"hmac-auth":{}}`)},
		{"/routes/hm-skew", routeJSON(o, "/hm-skew", `{"hmac-auth":{"clock_skew":10}}`)},
		{"/routes/hm-signed", routeJSON(o, "/hm-signed", `{"hmac-auth":{"signed_headers":["date","x-custom"],"hide_credentials":true,"realm":"my realm"}}`)},
		{"/routes/fa", routeJSON(o, "/fa", faConf(auth.URL+"/auth", ""))},
		{"/routes/fa-down", routeJSON(o, "/fa-down", faConf(downURI, `,"timeout":1000`))},
		{"/routes/fa-down-503", routeJSON(o, "/fa-down-503", faConf(downURI, `,"timeout":1000,"status_on_error":503`))},
		{"/routes/fa-degrade", routeJSON(o, "/fa-degrade", faConf(downURI, `,"timeout":1000,"allow_degradation":true`))},
	})

	now := time.Now().UTC()
	date := now.Format(http.TimeFormat)
	stale := now.Add(-time.Minute).Format(http.TimeFormat)
	sign := func(method, uri string, headers []string, hdr map[string]string) string {
		return "Authorization: " + hmacAuthorization("jack-hmac", "hmac-secret", method, uri, headers, hdr)
	}
	std := []string{"@request-target", "date"}
	dated := map[string]string{"date": date}
	hmacRealm := map[string]string{"WWW-Authenticate": `hmac realm="hmac"`}
	cantValidate := jsonLine(`{"message":"client request can't be validated"}`)
	sawHeader := func(name, want string) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			if got := originSaw(t, r).Header.Get(name); got != want {
				t.Errorf("origin saw %s = %q, want %q", name, got, want)
			}
		}
	}

	runCases(t, n, []pcase{
		// hmac-auth (§3 hmac-auth)
		{name: "hmac-auth/signed request passes", status: 200,
			req: req{path: "/hm?x=1&y=2", header: []string{"Date: " + date, sign("GET", "/hm?x=1&y=2", std, dated)}},
			check: func(t *testing.T, r response) {
				s := originSaw(t, r)
				if s.Header.Get("X-Consumer-Username") != "jack" || s.Header.Get("Authorization") == "" || s.URI != "/hm?x=1&y=2" {
					t.Errorf("origin saw %s %v", s.URI, s.Header)
				}
			}},
		{name: "hmac-auth/POST signed with the method", status: 200,
			req:   req{method: "POST", path: "/hm", body: "b", header: []string{"Date: " + date, sign("POST", "/hm", std, dated)}},
			check: sawHeader("X-Consumer-Username", "jack")},
		{name: "hmac-auth/missing Authorization", req: req{path: "/hm", header: []string{"Date: " + date}}, status: 401,
			body:   jsonLine(`{"message":"client request can't be validated: missing Authorization header"}`),
			header: hmacRealm},
		{name: "hmac-auth/wrong scheme", req: req{path: "/hm", header: []string{"Date: " + date, "Authorization: Basic abc"}}, status: 401,
			body:   jsonLine(`{"message":"client request can't be validated: Authorization header does not start with 'Signature'"}`),
			header: hmacRealm},
		{name: "hmac-auth/wrong signature", status: 401, body: cantValidate, header: hmacRealm,
			req: req{path: "/hm", header: []string{"Date: " + date,
				"Authorization: " + hmacAuthorization("jack-hmac", "not-the-secret", "GET", "/hm", std, dated)}}},
		{name: "hmac-auth/signature over another target", status: 401, body: cantValidate, header: hmacRealm,
			req: req{path: "/hm?x=2", header: []string{"Date: " + date, sign("GET", "/hm?x=1", std, dated)}}},
		{name: "hmac-auth/unknown keyId", status: 401, body: cantValidate, header: hmacRealm,
			req: req{path: "/hm", header: []string{"Date: " + date,
				"Authorization: " + hmacAuthorization("nobody", "hmac-secret", "GET", "/hm", std, dated)}}},
		{name: "hmac-auth/Date missing", status: 401, body: cantValidate, header: hmacRealm,
			req: req{path: "/hm", header: []string{sign("GET", "/hm", []string{"@request-target"}, nil)}}},
		{name: "hmac-auth/date not in the signed headers", status: 401, body: cantValidate, header: hmacRealm,
			req: req{path: "/hm", header: []string{"Date: " + date, sign("GET", "/hm", []string{"@request-target"}, nil)}}},
		{name: "hmac-auth/clock skew exceeded", status: 401, body: cantValidate, header: hmacRealm,
			req: req{path: "/hm-skew", header: []string{"Date: " + stale, sign("GET", "/hm-skew", std, map[string]string{"date": stale})}}},
		{name: "hmac-auth/stale date within the default skew", status: 200,
			req:   req{path: "/hm", header: []string{"Date: " + stale, sign("GET", "/hm", std, map[string]string{"date": stale})}},
			check: sawHeader("X-Consumer-Username", "jack")},
		{name: "hmac-auth/signed_headers enforced", status: 401, body: cantValidate,
			header: map[string]string{"WWW-Authenticate": `hmac realm="my realm"`},
			req:    req{path: "/hm-signed", header: []string{"Date: " + date, "X-Custom: c", sign("GET", "/hm-signed", std, dated)}}},
		{name: "hmac-auth/extra signed header, hidden credentials", status: 200,
			req: req{path: "/hm-signed", header: []string{"Date: " + date, "X-Custom: c",
				sign("GET", "/hm-signed", []string{"@request-target", "date", "x-custom"}, map[string]string{"date": date, "x-custom": "c"})}},
			check: func(t *testing.T, r response) {
				s := originSaw(t, r)
				if s.Header.Get("X-Consumer-Username") != "jack" || s.Header.Get("Authorization") != "" || s.Header.Get("X-Custom") != "c" {
					t.Errorf("origin saw %v", s.Header)
				}
			}},

		// forward-auth (§3 forward-auth)
		{name: "forward-auth/allowed: upstream_headers set, missing ones deleted", status: 200,
			req: req{path: "/fa?a=1", header: []string{"Authorization: Bearer t", "X-Spoof: evil", "X-User-Id: forged"}},
			check: func(t *testing.T, r response) {
				s := originSaw(t, r)
				if s.Header.Get("X-User-Id") != "u-42" || len(s.Header.Values("X-Spoof")) != 0 ||
					s.Header.Get("X-Auth-Saw") != "GET /fa?a=1 GET fa Bearer t" || s.URI != "/fa?a=1" {
					t.Errorf("origin saw %s %v", s.URI, s.Header)
				}
			}},
		{name: "forward-auth/denied: the auth response verbatim with client_headers", req: req{path: "/fa?deny=1"}, status: 403,
			body:   "denied by the auth service",
			header: map[string]string{"X-Reason": "no entry", "X-Not-Listed": "", "X-Origin": ""}},
		{name: "forward-auth/auth service down: status_on_error", req: req{path: "/fa-down"}, status: 403,
			body: errPage(403, "Forbidden"), header: map[string]string{"X-Origin": ""}},
		{name: "forward-auth/auth service down: custom status_on_error", req: req{path: "/fa-down-503"}, status: 503,
			body: errPage(503, "Service Temporarily Unavailable")},
		{name: "forward-auth/auth service down: allow_degradation", req: req{path: "/fa-degrade", header: []string{"X-User-Id: forged"}},
			status: 200, check: sawHeader("X-User-Id", "forged")},
	})
}
