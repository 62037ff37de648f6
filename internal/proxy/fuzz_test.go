package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// FuzzEdgeAgainstNetHTTP is the one-way differential of DESIGN.md "Speed": whatever request
// Sluice forwards, net/http parses the same bytes to the same method, target and body. Sluice
// may refuse more than net/http, never less safely. The seed corpus is the strict-edge table.
func FuzzEdgeAgainstNetHTTP(f *testing.F) {
	type seen struct {
		method, target string
		body           []byte
	}
	var mu sync.Mutex
	var got []seen
	up := origin(f, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, b})
		mu.Unlock()
	})
	_, addr := startProxy(f, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})

	for _, seed := range []string{
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /b?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"GET /a/../b/%2e%2e/c HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(raw)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
		}
		mu.Lock()
		forwarded := append([]seen(nil), got...)
		mu.Unlock()
		if len(forwarded) == 0 {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("forwarded %q, which net/http refuses: %v", raw, err)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("forwarded %q, whose body net/http cannot read: %v", raw, err)
		}
		fw := forwarded[0]
		if fw.method != req.Method || !bytes.Equal(fw.body, body) {
			t.Fatalf("%q: forwarded %s %d bytes, net/http reads %s %d bytes", raw, fw.method, len(fw.body), req.Method, len(body))
		}
		// the target may differ only by dot-segment removal
		if p, _, _ := strings.Cut(req.RequestURI, "?"); !strings.Contains(p, ".") && !strings.HasPrefix(req.RequestURI, "http") &&
			fw.target != req.RequestURI {
			t.Fatalf("%q: forwarded target %q, net/http reads %q", raw, fw.target, req.RequestURI)
		}
	})
}
