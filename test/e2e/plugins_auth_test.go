package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

// hs256 signs claims as a compact JWT with secret.
func hs256(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// The auth plugins through the real binary (plugins.md §3): key-auth, basic-auth, jwt-auth
// and consumer-restriction, with APISIX's exact 401/403 bodies and WWW-Authenticate.
func TestPluginsAuth(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)

	exp := time.Now().Add(time.Hour).Unix()
	good := hs256(t, "jwt-secret", map[string]any{"key": "jack-jwt", "exp": exp})
	expired := hs256(t, "jwt-secret", map[string]any{"key": "jack-jwt", "exp": time.Now().Add(-time.Hour).Unix()})
	forged := hs256(t, "other-secret", map[string]any{"key": "jack-jwt", "exp": exp})
	unknown := hs256(t, "jwt-secret", map[string]any{"key": "nobody", "exp": exp})
	noKey := hs256(t, "jwt-secret", map[string]any{"exp": exp})

	putAll(t, n, o, [][2]string{
		{"/consumers", `{"username":"jack","labels":{"custom_id":"c-7"},"plugins":{"key-auth":{"key":"jack-key"},` +
			`"basic-auth":{"username":"jack","password":"jack-pw"},"jwt-auth":{"key":"jack-jwt","secret":"jwt-secret"}}}`},
		{"/consumers", `{"username":"rose","plugins":{"key-auth":{"key":"rose-key"}}}`},
		{"/consumers/rose/credentials/cr1", `{"plugins":{"key-auth":{"key":"rose-cred-key"}}}`},
		{"/consumer_groups/cg", `{"plugins":{}}`},
		{"/consumers", `{"username":"anon","group_id":"cg","plugins":{"proxy-rewrite":{"headers":{"set":{"X-Anon":"1"}}}}}`},
		{"/routes/ka-anon", routeJSON(o, "/ka-anon", `{"key-auth":{"anonymous_consumer":"anon","hide_credentials":true}}`)},
		{"/routes/ka-anon-missing", routeJSON(o, "/ka-anon-missing", `{"key-auth":{"anonymous_consumer":"ghost"}}`)},
		{"/routes/ba-realm", routeJSON(o, "/ba-realm", `{"basic-auth":{"realm":"my realm"}}`)},
		{"/routes/jwt-hide", routeJSON(o, "/jwt-hide", `{"jwt-auth":{"hide_credentials":true}}`)},
		{"/routes/cr-group", routeJSON(o, "/cr-group", `{"key-auth":{"anonymous_consumer":"anon"},"consumer-restriction":{"type":"consumer_group_id","whitelist":["cg"]}}`)},
		{"/routes/cr-route", routeJSON(o, "/cr-route", `{"consumer-restriction":{"type":"route_id","blacklist":["cr-route"]}}`)},
		{"/routes/ka", routeJSON(o, "/ka", `{"key-auth":{}}`)},
		{"/routes/ka-hide", routeJSON(o, "/ka-hide", `{"key-auth":{"header":"X-Key","query":"k","hide_credentials":true}}`)},
		{"/routes/ba", routeJSON(o, "/ba", `{"basic-auth":{"hide_credentials":true}}`)},
		{"/routes/jwt", routeJSON(o, "/jwt", `{"jwt-auth":{}}`)},
		{"/routes/cr", routeJSON(o, "/cr", `{"key-auth":{},"consumer-restriction":{"whitelist":["jack"]}}`)},
		{"/routes/cr-black", routeJSON(o, "/cr-black", `{"key-auth":{},"consumer-restriction":{"blacklist":["rose"],"rejected_code":409,"rejected_msg":"go away"}}`)},
		{"/routes/cr-noauth", routeJSON(o, "/cr-noauth", `{"consumer-restriction":{"whitelist":["jack"]}}`)},
		{"/routes/cr-methods", routeJSON(o, "/cr-methods", `{"key-auth":{},"consumer-restriction":{"allowed_by_methods":[{"user":"rose","methods":["POST"]}]}}`)},
	})

	sawHeader := func(name, want string) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			if got := originSaw(t, r).Header.Get(name); got != want {
				t.Errorf("origin saw %s = %q, want %q", name, got, want)
			}
		}
	}
	keyRealm := map[string]string{"WWW-Authenticate": `apikey realm="key"`}
	runCases(t, n, []pcase{
		// key-auth (§3 key-auth)
		{name: "key-auth/missing", req: req{path: "/ka"}, status: 401,
			body: jsonLine(`{"message":"Missing API key in request"}`), header: keyRealm},
		{name: "key-auth/invalid", req: req{path: "/ka", header: []string{"apikey: nope"}}, status: 401,
			body: jsonLine(`{"message":"Invalid API key in request"}`), header: keyRealm},
		{name: "key-auth/empty header is a wrong key", req: req{path: "/ka?apikey=jack-key", header: []string{"apikey:"}}, status: 401,
			body: jsonLine(`{"message":"Invalid API key in request"}`)},
		{name: "key-auth/header passes and consumer headers go upstream", status: 200,
			req: req{path: "/ka", header: []string{"apikey: jack-key", "X-Credential-Identifier: spoofed"}},
			check: func(t *testing.T, r response) {
				s := originSaw(t, r)
				if s.Header.Get("X-Consumer-Username") != "jack" || s.Header.Get("X-Consumer-Custom-Id") != "c-7" ||
					s.Header.Get("apikey") != "jack-key" || len(s.Header.Values("X-Credential-Identifier")) != 0 {
					t.Errorf("origin saw %v", s.Header)
				}
			}},
		{name: "key-auth/query passes", req: req{path: "/ka?apikey=rose-key"}, status: 200,
			check: sawHeader("X-Consumer-Username", "rose")},
		{name: "key-auth/credential sets X-Credential-Identifier", req: req{path: "/ka", header: []string{"apikey: rose-cred-key"}},
			status: 200, check: sawHeader("X-Credential-Identifier", "cr1")},
		{name: "key-auth/hide_credentials strips the header", req: req{path: "/ka-hide", header: []string{"X-Key: jack-key"}},
			status: 200, check: sawHeader("X-Key", "")},
		{name: "key-auth/hide_credentials strips the query arg", req: req{path: "/ka-hide?a=1&k=jack-key"}, status: 200,
			check: func(t *testing.T, r response) {
				if u := originSaw(t, r).URI; u != "/ka-hide?a=1" {
					t.Errorf("origin uri %q", u)
				}
			}},

		{name: "key-auth/anonymous_consumer on failure", req: req{path: "/ka-anon?apikey=bad", header: []string{"apikey: bad"}}, status: 200,
			check: func(t *testing.T, r response) {
				s := originSaw(t, r)
				if s.Header.Get("X-Consumer-Username") != "anon" || s.Header.Get("X-Anon") != "1" ||
					s.Header.Get("apikey") != "" || s.URI != "/ka-anon" {
					t.Errorf("origin saw %s %v", s.URI, s.Header)
				}
			}},
		{name: "key-auth/anonymous_consumer missing", req: req{path: "/ka-anon-missing"}, status: 401,
			body: jsonLine(`{"message":"Invalid user authorization"}`), header: keyRealm},

		// basic-auth (§3 basic-auth)
		{name: "basic-auth/realm", req: req{path: "/ba-realm"}, status: 401,
			header: map[string]string{"WWW-Authenticate": `Basic realm="my realm"`}},
		{name: "basic-auth/whitespace deleted, text after a second colon dropped", status: 200,
			req: req{path: "/ba-realm", header: []string{"Authorization: basic " + base64.StdEncoding.EncodeToString([]byte(" ja ck:jack-pw:extra"))}}},
		{name: "basic-auth/no colon", status: 401, body: jsonLine(`{"message":"Invalid authorization in request"}`),
			req: req{path: "/ba-realm", header: []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("jack"))}}},
		{name: "basic-auth/missing", req: req{path: "/ba"}, status: 401,
			body:   jsonLine(`{"message":"Missing authorization in request"}`),
			header: map[string]string{"WWW-Authenticate": `Basic realm="basic"`}},
		{name: "basic-auth/not base64", req: req{path: "/ba", header: []string{"Authorization: Basic !!!"}}, status: 401,
			body: jsonLine(`{"message":"Invalid authorization in request"}`)},
		{name: "basic-auth/wrong password", status: 401,
			req:  req{path: "/ba", header: []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("jack:bad"))}},
			body: jsonLine(`{"message":"Invalid user authorization"}`)},
		{name: "basic-auth/ok, hidden", status: 200,
			req: req{path: "/ba", header: []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("jack:jack-pw"))}},
			check: func(t *testing.T, r response) {
				s := originSaw(t, r)
				if s.Header.Get("Authorization") != "" || s.Header.Get("X-Consumer-Username") != "jack" {
					t.Errorf("origin saw %v", s.Header)
				}
			}},

		// jwt-auth (§3 jwt-auth)
		{name: "jwt-auth/missing", req: req{path: "/jwt"}, status: 401,
			body:   jsonLine(`{"message":"Missing JWT token in request"}`),
			header: map[string]string{"WWW-Authenticate": `Bearer realm="jwt"`}},
		{name: "jwt-auth/malformed", req: req{path: "/jwt", header: []string{"Authorization: abc"}}, status: 401,
			body: jsonLine(`{"message":"JWT token invalid"}`)},
		{name: "jwt-auth/no key claim", req: req{path: "/jwt", header: []string{"Authorization: " + noKey}}, status: 401,
			body: jsonLine(`{"message":"missing user key in JWT token"}`)},
		{name: "jwt-auth/unknown key", req: req{path: "/jwt", header: []string{"Authorization: " + unknown}}, status: 401,
			body: jsonLine(`{"message":"Invalid user key in JWT token"}`)},
		{name: "jwt-auth/bad signature", req: req{path: "/jwt", header: []string{"Authorization: " + forged}}, status: 401,
			body: jsonLine(`{"message":"failed to verify jwt"}`)},
		{name: "jwt-auth/expired", req: req{path: "/jwt", header: []string{"Authorization: " + expired}}, status: 401,
			body: jsonLine(`{"message":"failed to verify jwt"}`)},
		{name: "jwt-auth/bearer header", req: req{path: "/jwt", header: []string{"Authorization: Bearer " + good}}, status: 200,
			check: sawHeader("X-Consumer-Username", "jack")},
		{name: "jwt-auth/query", req: req{path: "/jwt?jwt=" + good}, status: 200, check: sawHeader("X-Consumer-Username", "jack")},
		{name: "jwt-auth/cookie", req: req{path: "/jwt", header: []string{"Cookie: a=1; jwt=" + good}}, status: 200,
			check: sawHeader("X-Consumer-Username", "jack")},

		{name: "jwt-auth/hide_credentials removes the cookie only", req: req{path: "/jwt-hide", header: []string{"Cookie: a=1; jwt=" + good + "; b=2"}},
			status: 200, check: sawHeader("Cookie", "a=1; b=2")},
		{name: "jwt-auth/hide_credentials removes the header", req: req{path: "/jwt-hide?x=1", header: []string{"Authorization: bearer " + good}},
			status: 200, check: sawHeader("Authorization", "")},

		// consumer-restriction (§3 consumer-restriction)
		{name: "consumer-restriction/consumer_group_id allowed", req: req{path: "/cr-group"}, status: 200},
		{name: "consumer-restriction/consumer_group_id absent", req: req{path: "/cr-group", header: []string{"apikey: jack-key"}}, status: 401,
			body: jsonLine(`{"message":"The request is rejected, please check the consumer_group_id for this request"}`)},
		{name: "consumer-restriction/route_id", req: req{path: "/cr-route"}, status: 403,
			body: jsonLine(`{"message":"The route_id is forbidden."}`)},
		{name: "consumer-restriction/whitelisted", req: req{path: "/cr", header: []string{"apikey: jack-key"}}, status: 200},
		{name: "consumer-restriction/not whitelisted", req: req{path: "/cr", header: []string{"apikey: rose-key"}}, status: 403,
			body: jsonLine(`{"message":"The consumer_name is forbidden."}`)},
		{name: "consumer-restriction/blacklist with rejected_code and msg", req: req{path: "/cr-black", header: []string{"apikey: rose-key"}},
			status: 409, body: jsonLine(`{"message":"go away"}`)},
		{name: "consumer-restriction/no consumer", req: req{path: "/cr-noauth"}, status: 401,
			body: jsonLine(`{"message":"The request is rejected, please check the consumer_name for this request"}`)},
		{name: "consumer-restriction/method not allowed", req: req{path: "/cr-methods", header: []string{"apikey: rose-key"}},
			status: 403, body: jsonLine(`{"message":"The consumer_name is forbidden."}`)},
		{name: "consumer-restriction/method allowed", req: req{method: "POST", path: "/cr-methods", header: []string{"apikey: rose-key"}},
			status: 200},
		{name: "consumer-restriction/no entry for the user", req: req{path: "/cr-methods", header: []string{"apikey: jack-key"}},
			status: 200},
	})
}
