package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// client_max_body_size (Options.MaxBodyBytes) on the HTTP/1.1 engine: a declared length over it
// is refused before the node is contacted, a chunked body once it grows past it, and an
// Expect: 100-continue request over it gets 413 instead of an invitation. Every refusal closes
// the connection (the rest of the body is not read).
func TestClientMaxBodySizeHTTP1(t *testing.T) {
	var reached atomic.Int64
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	_, addr := startProxy(t, Options{MaxBodyBytes: 10},
		testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})

	for _, tc := range []struct {
		name, raw string
		status    int
		reaches   bool
	}{
		{"length within", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", 200, true},
		{"length over", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n0123456789x", 413, false},
		{"chunked within", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n", 200, true},
		{"chunked over", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n", 413, false},
	} {
		before := reached.Load()
		resp, body, closed := rawExchange(t, addr, tc.raw)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %q, want %d", tc.name, resp.StatusCode, body, tc.status)
			continue
		}
		if got := reached.Load() != before; got != tc.reaches {
			t.Errorf("%s: node reached %v, want %v", tc.name, got, tc.reaches)
		}
		if tc.status == 413 && (!closed || !strings.Contains(body, "413 Request Entity Too Large")) {
			t.Errorf("%s: closed %v, body %q; want nginx's 413 page and the connection closed", tc.name, closed, body)
		}
	}

	// Expect: 100-continue over the limit: 413 at once, no "100 Continue"
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 {
		t.Fatalf("Expect: 100-continue with a body over the limit: %d, want 413 without 100 Continue", resp.StatusCode)
	}
}

// HTTP/2 to a grpc node: a body without content-length that grows past the limit ends the
// call with 413, not a gateway error.
func TestClientMaxBodySizeGRPC(t *testing.T) {
	up := h2cOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		w.Write([]byte("ok"))
	})
	_, addr := startProxy(t, Options{MaxBodyBytes: 10},
		testRoute{id: "grpc", uri: "/svc/*", up: &model.Upstream{Scheme: "grpc", Nodes: nodes(up)}})
	for _, tc := range []struct {
		size   int
		status int
	}{{10, 200}, {50, 413}} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/svc/X", io.MultiReader(strings.NewReader(strings.Repeat("x", tc.size))))
		resp, err := h2c().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%d bytes: %d %q, want %d", tc.size, resp.StatusCode, b[:min(60, len(b))], tc.status)
		}
	}
}
