package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// nginx_config.http.client_max_body_size through the real binary, with client-control raising
// it for one route: a declared length over the gateway's limit is refused before any plugin
// (nginx's find-config check), a chunked body when it is read, on HTTP/1.1 and HTTP/2.
func TestClientMaxBodySize(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), "nginx_config:\n  http:\n    client_max_body_size: 10\n"), "")
	var reached atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %d", len(b))
	})
	putAll(t, n, o, [][2]string{
		{"/routes/plain", routeJSON(o, "/plain", "")},
		{"/routes/cc", routeJSON(o, "/cc", `{"client-control":{"max_body_size":100}}`)},
	})

	send := func(c *http.Client, path string, size int, chunked bool) (int, string) {
		t.Helper()
		var body io.Reader = strings.NewReader(strings.Repeat("x", size))
		if chunked {
			body = io.MultiReader(body) // no length known: chunked (HTTP/1.1), no content-length (HTTP/2)
		}
		req, _ := http.NewRequest("POST", n.proxyURL(path), body)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST %s (%d bytes, chunked %v): %v", path, size, chunked, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, proto := range []struct {
		name string
		c    *http.Client
	}{{"HTTP/1.1", &http.Client{}}, {"h2c", h2cClient(nil)}} {
		for _, tc := range []struct {
			path    string
			size    int
			chunked bool
			status  int
		}{
			{"/plain", 10, false, 200},
			{"/plain", 11, false, 413},
			{"/plain", 10, true, 200},
			{"/plain", 11, true, 413},
			{"/cc", 11, false, 413}, // the gateway's limit holds a declared length before plugins run
			{"/cc", 50, true, 200},  // client-control raised it for what is read
			{"/cc", 101, true, 413},
		} {
			before := reached.Load()
			st, body := send(proto.c, tc.path, tc.size, tc.chunked)
			if st != tc.status {
				t.Errorf("%s POST %s %d bytes chunked=%v: %d %q, want %d", proto.name, tc.path, tc.size, tc.chunked, st, body, tc.status)
				continue
			}
			if st == 200 && body != fmt.Sprintf("got %d", tc.size) {
				t.Errorf("%s POST %s: origin answered %q", proto.name, tc.path, body)
			}
			if st == 413 && !tc.chunked && reached.Load() != before {
				t.Errorf("%s POST %s %d bytes: refused with 413 but the origin saw the request", proto.name, tc.path, tc.size)
			}
			if st == 413 && !strings.Contains(body, "413 Request Entity Too Large") {
				t.Errorf("%s POST %s: 413 body %q, want nginx's page", proto.name, tc.path, body)
			}
		}
	}
}
