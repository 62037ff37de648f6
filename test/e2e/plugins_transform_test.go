package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// transformPlugins enables brotli (not in APISIX's default list) next to the plugins tested.
const transformPlugins = `plugins:
  - client-control
  - proxy-control
  - request-id
  - fault-injection
  - mocking
  - brotli
  - gzip
  - proxy-rewrite
  - redirect
  - response-rewrite
  - echo
`

// The transformation and control plugins through the real binary (plugins.md §5).
func TestPluginsTransform(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), transformPlugins), "")
	o := newMirror(t)

	putAll(t, n, o, [][2]string{
		{"/routes/pr-uri", routeJSON(o, "/pr/uri", `{"proxy-rewrite":{"uri":"/new/$arg_x","host":"rewritten.test","method":"POST",`+
			`"headers":{"add":{"X-Add":["a1","a2"]},"set":{"X-Set":"$uri","X-Drop":"ignored"},"remove":["X-Drop"]}}}`)},
		{"/routes/pr-re", routeJSON(o, "/pr/re/*", `{"proxy-rewrite":{"regex_uri":["^/pr/re/(\\w+)/(.*)","/$2/$1"],"headers":{"X-Cap":"$1"}}}`)},
		{"/routes/pr-legacy", routeJSON(o, "/pr/legacy", `{"proxy-rewrite":{"headers":{"X-Legacy":"v","X-Num":7}}}`)},
		{"/routes/pr-plain", routeJSON(o, "/pr/plain/*", `{"proxy-rewrite":{"headers":{"set":{"X-A":"1"}}}}`)},
		{"/routes/pr-q", routeJSON(o, "/pr/q", `{"proxy-rewrite":{"uri":"/q?from=$arg_v"}}`)},
		{"/routes/redir-dollar", routeJSON(o, "/redir-dollar", `{"redirect":{"uri":"/foo$$uri/$bad_var/bar"}}`)},
		{"/routes/rr", routeJSON(o, "/rr", `{"response-rewrite":{"status_code":201,"body":"rewritten\n",`+
			`"headers":{"set":{"X-RR":"$arg_v"},"add":["X-Added: yes"],"remove":["X-Origin"]}}}`)},
		{"/routes/rr-vars", routeJSON(o, "/rr-vars", `{"response-rewrite":{"body":"only when v=1","vars":[["arg_v","==","1"]]}}`)},
		{"/routes/rr-filters", routeJSON(o, "/rr-filters", `{"response-rewrite":{"filters":[{"regex":"\"method\":\"GET\"","replace":"\"method\":\"HIDDEN\""}]}}`)},
		{"/routes/rr-b64", routeJSON(o, "/rr-b64", `{"response-rewrite":{"body":"aGVsbG8=","body_base64":true}}`)},
		{"/routes/rr-status", routeJSON(o, "/rr-status", `{"response-rewrite":{"headers":{"set":{"X-Status":"$status","X-Both":"${status}/$arg_v"}}}}`)},
		{"/routes/rr-status-code", routeJSON(o, "/rr-status-code", `{"response-rewrite":{"status_code":203,"headers":{"add":["X-Status: $status"]}}}`)},
		{"/routes/rr-status-exit", routeJSON(o, "/rr-status-exit", `{"fault-injection":{"abort":{"http_status":418,"body":"teapot"}},`+
			`"response-rewrite":{"headers":{"set":{"X-Status":"$status"}},"vars":[["status","==",418]]}}`)},
		{"/routes/redir", routeJSON(o, "/redir/*", `{"redirect":{"uri":"/new$uri","ret_code":301,"append_query_string":true}}`)},
		{"/routes/redir-https", routeJSON(o, "/redir-https", `{"redirect":{"http_to_https":true}}`)},
		{"/routes/redir-re", routeJSON(o, "/redir-re/*", `{"redirect":{"regex_uri":["^/redir-re/(a)$","/to/$1"]}}`)},
		{"/routes/rid", routeJSON(o, "/rid", `{"request-id":{}}`)},
		{"/routes/rid-nano", routeJSON(o, "/rid-nano", `{"request-id":{"algorithm":"nanoid","header_name":"X-Trace"}}`)},
		{"/routes/rid-range", routeJSON(o, "/rid-range", `{"request-id":{"algorithm":"range_id","range_id":{"length":8,"char_set":"abcdef"},"include_in_response":false}}`)},
		{"/routes/fi", routeJSON(o, "/fi", `{"fault-injection":{"abort":{"http_status":418,"body":"teapot $arg_who","headers":{"X-Fault":"1"},`+
			`"vars":[[["arg_who","==","me"]],[["http_x_fi","==","1"]]]}}}`)},
		{"/routes/fi-page", routeJSON(o, "/fi-page", `{"fault-injection":{"abort":{"http_status":503}}}`)},
		{"/routes/fi-delay", routeJSON(o, "/fi-delay", `{"fault-injection":{"delay":{"duration":0.3}}}`)},
		{"/routes/mock", routeJSON(o, "/mock", `{"mocking":{"response_status":201,"response_example":"{\"a\":\"$arg_a\"}","response_headers":{"X-Mock":"m"}}}`)},
		{"/routes/mock-text", routeJSON(o, "/mock-text", `{"mocking":{"content_type":"text/plain","response_example":"hi","with_mock_header":false}}`)},
		{"/routes/echo", routeJSON(o, "/echo", `{"echo":{"before_body":"<","after_body":">","headers":{"X-Echo":"e"}}}`)},
		{"/routes/echo-body", routeJSON(o, "/echo-body", `{"echo":{"body":"replaced","before_body":"["}}`)},
		{"/routes/gzip", routeJSON(o, "/gz/*", `{"gzip":{"vary":true}}`)},
		{"/routes/br", routeJSON(o, "/br/*", `{"brotli":{"types":"*","vary":true}}`)},
		{"/routes/cc", routeJSON(o, "/cc", `{"client-control":{"max_body_size":5}}`)},
		{"/routes/pc", routeJSON(o, "/pc", `{"proxy-control":{"request_buffering":false}}`)},
	})

	origin := func(check func(*testing.T, seen)) func(*testing.T, response) {
		return func(t *testing.T, r response) { check(t, originSaw(t, r)) }
	}
	uuidRe := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	runCases(t, n, []pcase{
		// proxy-rewrite (§5)
		{name: "proxy-rewrite/uri, host, method, headers", status: 200,
			req: req{path: "/pr/uri?x=1", header: []string{"X-Drop: d", "X-Add: a0"}},
			check: origin(func(t *testing.T, s seen) {
				if s.URI != "/new/1?x=1" || s.Host != "rewritten.test" || s.Method != "POST" {
					t.Errorf("origin saw %s %s host %s", s.Method, s.URI, s.Host)
				}
				if got := strings.Join(s.Header.Values("X-Add"), ","); got != "a0,a1,a2" {
					t.Errorf("X-Add %q", got)
				}
				if s.Header.Get("X-Set") != "/pr/uri" || s.Header.Values("X-Drop") != nil {
					t.Errorf("X-Set %q X-Drop %q", s.Header.Get("X-Set"), s.Header.Values("X-Drop"))
				}
			})},
		{name: "proxy-rewrite/regex_uri with captures", req: req{path: "/pr/re/ab/c/d?q=1"}, status: 200,
			check: origin(func(t *testing.T, s seen) {
				if s.URI != "/c/d/ab?q=1" || s.Header.Get("X-Cap") != "ab" {
					t.Errorf("origin saw %s X-Cap %q", s.URI, s.Header.Get("X-Cap"))
				}
			})},
		{name: "proxy-rewrite/legacy headers form sets", req: req{path: "/pr/legacy", header: []string{"X-Legacy: old"}}, status: 200,
			check: origin(func(t *testing.T, s seen) {
				if s.Header.Get("X-Legacy") != "v" || s.Header.Get("X-Num") != "7" || s.URI != "/pr/legacy" {
					t.Errorf("origin saw %s %v", s.URI, s.Header)
				}
			})},

		{name: "proxy-rewrite/path re-encoded from the decoded $uri", req: req{path: "/pr/plain/a%2Fb%20c?x=%2F"}, status: 200,
			check: origin(func(t *testing.T, s seen) {
				if s.URI != "/pr/plain/a/b%20c?x=%2F" {
					t.Errorf("origin uri %q", s.URI)
				}
			})},
		{name: "proxy-rewrite/template query joined with &, ? in a value escaped", req: req{path: "/pr/q?v=a%3Fb"}, status: 200,
			check: origin(func(t *testing.T, s seen) {
				if s.URI != "/q?from=a%3Fb&v=a%3Fb" {
					t.Errorf("origin uri %q", s.URI)
				}
			})},

		// response-rewrite (§5)
		{name: "response-rewrite/status, body, headers", req: req{path: "/rr?v=9"}, status: 201, body: "rewritten\n",
			header: map[string]string{"X-RR": "9", "X-Added": "yes", "X-Origin": ""}},
		{name: "response-rewrite/vars true", req: req{path: "/rr-vars?v=1"}, status: 200, body: "only when v=1"},
		{name: "response-rewrite/vars false leaves the response", req: req{path: "/rr-vars?v=2"}, status: 200,
			header: map[string]string{"X-Origin": "1"}, check: origin(func(*testing.T, seen) {})},
		{name: "response-rewrite/filters", req: req{path: "/rr-filters"}, status: 200, has: []string{`"method":"HIDDEN"`}},
		{name: "response-rewrite/body_base64", req: req{path: "/rr-b64"}, status: 200, body: "hello"},
		{name: "response-rewrite/applies to a 404 too", req: req{path: "/rr-vars/none?v=1"}, status: 404},
		{name: "response-rewrite/$status is the upstream's status", req: req{path: "/rr-status?v=x"}, status: 200,
			header: map[string]string{"X-Status": "200", "X-Both": "200/x"}, check: origin(func(*testing.T, seen) {})},
		{name: "response-rewrite/$status after status_code", req: req{path: "/rr-status-code"}, status: 203,
			header: map[string]string{"X-Status": "203"}},
		{name: "response-rewrite/$status of a plugin exit, vars on status", req: req{path: "/rr-status-exit"}, status: 418,
			body: "teapot", header: map[string]string{"X-Status": "418"}},

		// redirect (§5)
		{name: "redirect/uri template, ret_code, append_query_string", req: req{path: "/redir/a?x=1"}, status: 301,
			header: map[string]string{"Location": "/new/redir/a?x=1", "X-Origin": ""}, has: []string{"301 Moved Permanently"}},
		{name: "redirect/http_to_https GET", req: req{path: "/redir-https?q=1", host: "api.test"}, status: 301,
			header: map[string]string{"Location": "https://api.test:" + strconv.Itoa(p.SSL) + "/redir-https?q=1"}},
		{name: "redirect/http_to_https POST is 308", req: req{method: "POST", path: "/redir-https", host: "api.test"}, status: 308,
			header: map[string]string{"Location": "https://api.test:" + strconv.Itoa(p.SSL) + "/redir-https"}},
		{name: "redirect/http_to_https honours X-Forwarded-Proto", status: 200,
			req: req{path: "/redir-https", header: []string{"X-Forwarded-Proto: https"}}},
		{name: "redirect/$$ and a missing var", req: req{path: "/redir-dollar"}, status: 302,
			header: map[string]string{"Location": "/foo$/redir-dollar//bar"}},
		{name: "redirect/regex_uri", req: req{path: "/redir-re/a"}, status: 302, header: map[string]string{"Location": "/to/a"}},
		{name: "redirect/regex_uri no match proxies", req: req{path: "/redir-re/b"}, status: 200},

		// request-id (§5)
		{name: "request-id/uuid generated and echoed", req: req{path: "/rid"}, status: 200,
			check: func(t *testing.T, r response) {
				id := r.Header.Get("X-Request-Id")
				if !uuidRe.MatchString(id) || originSaw(t, r).Header.Get("X-Request-Id") != id {
					t.Errorf("response id %q, origin %q", id, originSaw(t, r).Header.Get("X-Request-Id"))
				}
			}},
		{name: "request-id/client id kept", req: req{path: "/rid", header: []string{"X-Request-Id: mine"}}, status: 200,
			header: map[string]string{"X-Request-Id": "mine"}},
		{name: "request-id/nanoid under header_name", req: req{path: "/rid-nano"}, status: 200,
			check: func(t *testing.T, r response) {
				if id := r.Header.Get("X-Trace"); !regexp.MustCompile(`^[-_0-9a-zA-Z]{21}$`).MatchString(id) {
					t.Errorf("X-Trace %q", id)
				}
			}},
		{name: "request-id/range_id, not in response", req: req{path: "/rid-range"}, status: 200,
			header: map[string]string{"X-Request-Id": ""},
			check: origin(func(t *testing.T, s seen) {
				if id := s.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[a-f]{8}$`).MatchString(id) {
					t.Errorf("origin saw id %q", id)
				}
			})},

		// fault-injection (§5)
		{name: "fault-injection/abort when a vars expr matches", req: req{path: "/fi?who=me"}, status: 418, body: "teapot me",
			header: map[string]string{"X-Fault": "1"}},
		{name: "fault-injection/vars are ORed", req: req{path: "/fi", header: []string{"X-Fi: 1"}}, status: 418, body: "teapot "},
		{name: "fault-injection/no vars match", req: req{path: "/fi?who=you"}, status: 200},
		{name: "fault-injection/abort without body sends the nginx page", req: req{path: "/fi-page"}, status: 503,
			body: errPage(503, "Service Temporarily Unavailable")},
		{name: "fault-injection/delay", req: req{path: "/fi-delay"}, status: 200},

		// mocking (§5)
		{name: "mocking/example, status, headers", req: req{path: "/mock?a=z"}, status: 201, body: `{"a":"z"}`,
			header: map[string]string{"Content-Type": "application/json;charset=utf8", "x-mock-by": "APISIX/3.18.0", "X-Mock": "m", "X-Origin": ""}},
		{name: "mocking/text without mock header", req: req{path: "/mock-text"}, status: 200, body: "hi",
			header: map[string]string{"Content-Type": "text/plain", "x-mock-by": ""}},

		// echo (§5)
		{name: "echo/before and after", req: req{path: "/echo"}, status: 200, header: map[string]string{"X-Echo": "e"},
			check: func(t *testing.T, r response) {
				if !strings.HasPrefix(r.Body, "<{") || !strings.HasSuffix(r.Body, "}\n>") {
					t.Errorf("body %q", r.Body)
				}
			}},
		{name: "echo/body replaces", req: req{path: "/echo-body"}, status: 200, body: "[replaced"},

		// gzip (§5)
		{name: "gzip/compresses text/html", req: req{path: "/gz/html", header: []string{"Accept-Encoding: gzip"}}, status: 200,
			header: map[string]string{"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
			check: func(t *testing.T, r response) {
				compressedLength(t, r)
				zr, err := gzip.NewReader(strings.NewReader(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(zr); string(b) != htmlPage {
					t.Errorf("gunzipped %q", b)
				}
			}},
		{name: "gzip/not accepted", req: req{path: "/gz/html"}, status: 200, body: htmlPage,
			header: map[string]string{"Content-Encoding": ""}},
		{name: "gzip/type not listed", req: req{path: "/gz/json", header: []string{"Accept-Encoding: gzip"}}, status: 200,
			header: map[string]string{"Content-Encoding": ""}, check: origin(func(*testing.T, seen) {})},

		// brotli (§5, enabled through plugins:)
		{name: "brotli/compresses", req: req{path: "/br/html", header: []string{"Accept-Encoding: gzip, br"}}, status: 200,
			header: map[string]string{"Content-Encoding": "br", "Vary": "Accept-Encoding"},
			check: func(t *testing.T, r response) {
				compressedLength(t, r)
				if b, _ := io.ReadAll(brotli.NewReader(bytes.NewReader([]byte(r.Body)))); string(b) != htmlPage {
					t.Errorf("decoded %q", b)
				}
			}},
		{name: "brotli/again on the same connection", req: req{path: "/br/html", header: []string{"Accept-Encoding: br"}}, status: 200,
			header: map[string]string{"Content-Encoding": "br"}},
		{name: "brotli/q=0 refuses", req: req{path: "/br/html", header: []string{"Accept-Encoding: br;q=0"}}, status: 200,
			body: htmlPage, header: map[string]string{"Content-Encoding": ""}},

		// client-control (§5)
		{name: "client-control/over max_body_size", req: req{method: "POST", path: "/cc", body: "0123456789"}, status: 413,
			body: errPage(413, "Request Entity Too Large")},
		{name: "client-control/within", req: req{method: "POST", path: "/cc", body: "01234"}, status: 200,
			check: origin(func(t *testing.T, s seen) {
				if s.Body != "01234" {
					t.Errorf("origin body %q", s.Body)
				}
			})},

		// proxy-control (§5)
		{name: "proxy-control/unbuffered body arrives whole", req: req{method: "POST", path: "/pc", body: strings.Repeat("b", 70000)},
			status: 200, check: origin(func(t *testing.T, s seen) {
				if len(s.Body) != 70000 {
					t.Errorf("origin got %d bytes", len(s.Body))
				}
			})},
	})

	t.Run("fault-injection/delay takes its duration", func(t *testing.T) {
		start := time.Now()
		if r := send(t, n, req{path: "/fi-delay"}); r.Status != 200 {
			t.Fatalf("status %d", r.Status)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("answered after %v, want ≥ 300ms", d)
		}
	})
}

// compressedLength: nginx drops the origin's Content-Length and streams the compressed body
// chunked; Sluice may announce the compressed length instead, never the origin's.
func compressedLength(t *testing.T, r response) {
	t.Helper()
	if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(r.Body)) {
		t.Errorf("Content-Length %s for a %d-byte compressed body", cl, len(r.Body))
	}
}
