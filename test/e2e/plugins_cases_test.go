package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Shared pieces of the per-plugin e2e tests (plugins_<group>_test.go): an origin that reports
// what it received, a table of requests with exact expectations, and a client that neither
// follows redirects nor decompresses.

// seen is what the mirror origin received, sent back as its JSON body.
type seen struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// newMirror starts an origin answering 200 with a JSON account of the request. /html answers
// a text/html page instead (for the compression plugins).
func newMirror(t testing.TB) *originServer {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/html" || strings.HasSuffix(r.URL.Path, "/html") {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, htmlPage)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Origin", "1")
		json.NewEncoder(w).Encode(seen{r.Method, r.RequestURI, r.Host, r.Header, string(b)})
	})
}

var htmlPage = "<html><body>" + strings.Repeat("compress me please ", 50) + "</body></html>"

// originSaw decodes the mirror's account; it fails the test if the body is not one.
func originSaw(t testing.TB, r response) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(r.Body), &s); err != nil {
		t.Fatalf("response is not the origin's account (%d): %q", r.Status, r.Body)
	}
	return s
}

// upstreamOf is the inline upstream JSON for origin o.
func upstreamOf(o *originServer) string {
	return fmt.Sprintf(`{"nodes":{"%s":1},"type":"roundrobin"}`, o.addr())
}

// routeJSON is a route on uri with plugins (a JSON object, "" for none) to the origin.
func routeJSON(o *originServer, uri, plugins string) string {
	if plugins == "" {
		return fmt.Sprintf(`{"uri":%q,"upstream":%s}`, uri, upstreamOf(o))
	}
	return fmt.Sprintf(`{"uri":%q,"plugins":%s,"upstream":%s}`, uri, plugins, upstreamOf(o))
}

// putAll writes the objects in order, then a plain route /_ready last and waits for it: the
// snapshot compiler publishes whole snapshots in order, so everything before it is live.
func putAll(t testing.TB, n *node, o *originServer, objs [][2]string) {
	t.Helper()
	for _, ob := range objs {
		put(t, n, ob[0], ob[1])
	}
	put(t, n, "/routes/_ready", routeJSON(o, "/_ready", ""))
	waitFor(t, n.proxyURL("/_ready"), func(st int, _ string) bool { return st == 200 })
}

// noRedirect is a client that returns 3xx as they are and leaves Accept-Encoding to the test.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// req is one request of a plugin case.
type req struct {
	method string // GET when empty
	path   string
	host   string
	header []string // "Name: value" pairs, repeated names allowed; "Name:" sends an empty value
	body   string
}

// send performs r against the node's proxy port.
func send(t testing.TB, n *node, r req) response {
	t.Helper()
	method := r.method
	if method == "" {
		method = "GET"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if r.body != "" {
		rd = strings.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, n.proxyURL(r.path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	for _, h := range r.header {
		name, value, _ := strings.Cut(h, ":")
		hr.Header.Add(name, strings.TrimSpace(value))
	}
	resp, err := noRedirect.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// pcase is one request and what APISIX answers to it.
type pcase struct {
	name   string
	req    req
	status int
	body   string            // exact body when set
	noBody bool              // the body must be empty
	has    []string          // substrings of the body
	header map[string]string // exact response header values; "" = must be absent
	check  func(t *testing.T, r response)
}

// errPage is nginx's built-in page for status, as Sluice sends it for an exit without body.
func errPage(status int, text string) string {
	line := fmt.Sprintf("%d %s", status, text)
	return "<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" +
		line + "</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n"
}

func runCases(t *testing.T, n *node, cases []pcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := send(t, n, c.req)
			if r.Status != c.status {
				t.Errorf("status %d, want %d (body %q)", r.Status, c.status, r.Body)
			}
			if c.body != "" && r.Body != c.body {
				t.Errorf("body\n %q\nwant\n %q", r.Body, c.body)
			}
			if c.noBody && r.Body != "" {
				t.Errorf("body %q, want none", r.Body)
			}
			for _, s := range c.has {
				if !strings.Contains(r.Body, s) {
					t.Errorf("body %q lacks %q", r.Body, s)
				}
			}
			for name, want := range c.header {
				got, ok := r.Header[http.CanonicalHeaderKey(name)]
				switch {
				case want == "" && ok:
					t.Errorf("header %s = %q, want absent", name, got)
				case want != "" && strings.Join(got, ", ") != want:
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// jsonLine is a cjson exit body: the JSON text plus a trailing newline.
func jsonLine(s string) string { return s + "\n" }
