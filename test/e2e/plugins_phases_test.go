package e2e

import (
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// The phases around forwarding through the real binary (apisix.md §6, plugins.md §0 and
// gzip): the gateway's own error pages go through header_filter and body_filter like a
// plugin's exit, and a compressed body goes out chunked without a length, as nginx sends it.
func TestPluginsPhases(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String() // nothing listens there once closed
	ln.Close()

	rr := `{"response-rewrite":{"body":"gateway said no\n","headers":{"set":{"X-RR":"rr"}}}}`
	putAll(t, n, o, [][2]string{
		{"/routes/ph-down", fmt.Sprintf(`{"uri":"/ph/down","plugins":%s,"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, rr, refused)},
		{"/routes/ph-noup", fmt.Sprintf(`{"uri":"/ph/noup","plugins":%s}`, rr)},
		{"/routes/ph-down-plain", fmt.Sprintf(`{"uri":"/ph/down-plain","plugins":{"response-rewrite":{"headers":{"set":{"X-RR":"hf"}}}},`+
			`"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, refused)},
		{"/routes/ph-gz", routeJSON(o, "/ph/gz/*", `{"gzip":{}}`)},
	})

	runCases(t, n, []pcase{
		// upstream unreachable: 502 page, rewritten by response-rewrite's filters
		{name: "error page/502 through body_filter", req: req{path: "/ph/down"}, status: 502, body: "gateway said no\n",
			header: map[string]string{"X-RR": "rr"}},
		{name: "error page/502 through header_filter", req: req{path: "/ph/down-plain"}, status: 502,
			body: errPage(502, "Bad Gateway"), header: map[string]string{"X-RR": "hf", "Content-Type": "text/html"}},
		// no upstream on the route: 503, same path
		{name: "error page/503 without upstream", req: req{path: "/ph/noup"}, status: 503, body: "gateway said no\n",
			header: map[string]string{"X-RR": "rr"}},

		// gzip: nginx drops Content-Length and sends the compressed body chunked; a body it
		// leaves alone keeps its exact length
		{name: "gzip/compressed body has no length", req: req{path: "/ph/gz/html", header: []string{"Accept-Encoding: gzip"}}, status: 200,
			header: map[string]string{"Content-Encoding": "gzip", "Content-Length": ""},
			check: func(t *testing.T, r response) {
				zr, err := gzip.NewReader(strings.NewReader(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(zr); string(b) != htmlPage {
					t.Errorf("gunzipped %q", b)
				}
			}},
		{name: "gzip/uncompressed keeps its length", req: req{path: "/ph/gz/html"}, status: 200, body: htmlPage,
			header: map[string]string{"Content-Encoding": "", "Content-Length": strconv.Itoa(len(htmlPage))}},
	})
}
