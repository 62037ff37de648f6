package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/netpoll"
	sltls "github.com/sluicegw/sluice/internal/tls"
)

// keepAliveProxy serves /* from an origin that answers "path=<path>", after 100 ms for /slow.
func keepAliveProxy(t *testing.T) (*Server, string) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(100 * time.Millisecond)
		}
		io.WriteString(w, "path="+r.URL.Path)
	})
	return startProxy(t, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})
}

// kaDial connects to the proxy with a 5 s deadline on everything the test does.
func kaDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

func kaReq(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: ka.test\r\n\r\n" }

// The next request on a keep-alive connection is read however it arrives: after the response,
// in pieces, pipelined in one write with the previous one, or while the previous one is still
// at the node (the FIFO build waits for it through the poller, netpoll.ReadWaiter, which must
// not miss bytes that came before the wait began). A missed wake-up would leave the request
// unanswered until keepalive_timeout: the client's 5 s deadline fails the test first.
func TestKeepAliveNextRequest(t *testing.T) {
	_, addr := keepAliveProxy(t)

	for _, tc := range []struct {
		name  string
		steps []string // written in turn, 30 ms apart
		want  []string // the response bodies, in order
		// afterEach: each step is written only after the previous step's response was read
		afterEach bool
	}{
		{"sequential after idle gaps", []string{kaReq("/a"), kaReq("/b"), kaReq("/c")}, []string{"path=/a", "path=/b", "path=/c"}, true},
		{"next request in pieces", []string{kaReq("/a"), "GET /b HTTP/1.1\r\nHo", "st: ka.test\r\n\r\n"}, []string{"path=/a", "path=/b"}, false},
		{"pipelined in one write", []string{kaReq("/a") + kaReq("/b")}, []string{"path=/a", "path=/b"}, false},
		{"next request while the previous is at the node", []string{kaReq("/slow"), kaReq("/b")}, []string{"path=/slow", "path=/b"}, false},
		{"two pipelined behind a slow one", []string{kaReq("/slow"), kaReq("/b") + kaReq("/c")}, []string{"path=/slow", "path=/b", "path=/c"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kaDial(t, addr)
			br := bufio.NewReader(c)
			read := func(want string) {
				t.Helper()
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("waiting for %q: %v", want, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != want {
					t.Fatalf("got %d %q (%v), want 200 %q", resp.StatusCode, body, err, want)
				}
			}
			got := 0
			for i, step := range tc.steps {
				if i > 0 {
					time.Sleep(30 * time.Millisecond)
				}
				if _, err := io.WriteString(c, step); err != nil {
					t.Fatal(err)
				}
				if tc.afterEach {
					read(tc.want[got])
					got++
				}
			}
			for ; got < len(tc.want); got++ {
				read(tc.want[got])
			}
			// and the connection still serves after them
			io.WriteString(c, kaReq("/last"))
			read("path=/last")
		})
	}
}

// A client that sends its request and then shuts its sending side (nc -N, scripts) gets the
// response and then the connection's close at once, not after keepalive_timeout: the FIN can
// come before the read that takes the request, and no poller event follows it. In "behind a
// slow request" the FIN reaches the poller while the connection waits for the node, always
// before the read of /b (the other case leaves that to timing).
func TestKeepAliveClientHalfClose(t *testing.T) {
	_, addr := keepAliveProxy(t)
	for _, tc := range []struct {
		name  string
		steps []string // written 30 ms apart; the sending side is shut after the last
		want  []string
	}{
		{"one request", []string{kaReq("/a")}, []string{"path=/a"}},
		{"behind a slow request", []string{kaReq("/slow"), kaReq("/b")}, []string{"path=/slow", "path=/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kaDial(t, addr)
			for i, step := range tc.steps {
				if i > 0 {
					time.Sleep(30 * time.Millisecond)
				}
				if _, err := io.WriteString(c, step); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for _, want := range tc.want {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("waiting for %q: %v", want, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != want {
					t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
				}
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
				t.Fatalf("after the responses: %q, %v; want the proxy's close (EOF)", rest, err)
			}
		})
	}
}

// In the FIFO build the wait between keep-alive requests is really taken, on plain HTTP and
// under the TLS layer (the tests above and e2e TestHTTPSKeepAlive pass without it too). Over
// TLS the last request's record also arrives in two parts, so that part of it waits in the
// TLS layer's buffer while the rest is awaited.
func TestKeepAliveWaitsThroughPoller(t *testing.T) {
	if !netpoll.FIFO {
		t.Skip("stock runtime: no wait through the poller")
	}
	t.Run("http", func(t *testing.T) {
		s, addr := keepAliveProxy(t)
		c := kaDial(t, addr)
		exchangeThrice(t, s, c, c, nil)
	})
	t.Run("https", func(t *testing.T) {
		up := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "path="+r.URL.Path) })
		cert, key, pool := h3TestCert(t)
		snap := buildSnapshot(t, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})
		doc, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "sni": "h3.test"})
		st, errs := sltls.Build(map[string]json.RawMessage{"1": doc}, sltls.Options{NextProtos: []string{"http/1.1"}})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		snap.TLS = st
		src := &staticSnapshots{}
		src.s.Store(snap)
		s, err := Listen(Options{TLSAddrs: []string{"127.0.0.1:0"}, Snapshots: src, ServerName: "sluice/test",
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve()
		t.Cleanup(func() { s.Shutdown(t.Context()) })
		raw := &splitWrites{Conn: kaDial(t, s.Addrs()[0].String())}
		c := tls.Client(raw, &tls.Config{ServerName: "h3.test", RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err := c.Handshake(); err != nil {
			t.Fatal(err)
		}
		exchangeThrice(t, s, c, c, func() { raw.split = true })
	})
}

// splitWrites writes each Write in two parts 20 ms apart once split is set.
type splitWrites struct {
	net.Conn
	split bool
}

func (w *splitWrites) Write(p []byte) (int, error) {
	if !w.split || len(p) < 2 {
		return w.Conn.Write(p)
	}
	n, err := w.Conn.Write(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	time.Sleep(20 * time.Millisecond)
	m, err := w.Conn.Write(p[len(p)/2:])
	return n + m, err
}

// exchangeThrice sends three requests on one connection, each after the previous response
// (beforeLast runs before the third), and checks that the proxy's connection waited through
// the poller before the second and the third.
func exchangeThrice(t *testing.T, s *Server, w io.Writer, r io.Reader, beforeLast func()) {
	t.Helper()
	br := bufio.NewReader(r)
	for i := range 3 {
		if i == 2 && beforeLast != nil {
			beforeLast()
		}
		if _, err := io.WriteString(w, kaReq("/x")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "path=/x" {
			t.Fatalf("request %d: %d %q", i+1, resp.StatusCode, body)
		}
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if len(s.conns) != 1 {
		t.Fatalf("%d connections tracked, want 1", len(s.conns))
	}
	for tc := range s.conns {
		// the waiter is made by the connection's goroutine before its first wait, which
		// began before the third response was written
		if tc.waiter == nil || tc.waiter.Waits() < 2 {
			t.Fatalf("waiter %v: the connection did not wait through the poller between requests", tc.waiter)
		}
	}
}
