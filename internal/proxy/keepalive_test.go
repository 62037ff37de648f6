package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// The next request on a keep-alive connection is read however it arrives: after the response,
// in pieces, pipelined in one write with the previous one, or while the previous one is still
// at the node (the FIFO build waits for it through the poller, netpoll.ReadWaiter, which must
// not miss bytes that came before the wait began). A missed wake-up would leave the request
// unanswered until keepalive_timeout: the client's 5 s deadline fails the test first.
func TestKeepAliveNextRequest(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(100 * time.Millisecond)
		}
		io.WriteString(w, "path="+r.URL.Path)
	})
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})
	req := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: ka.test\r\n\r\n" }

	for _, tc := range []struct {
		name  string
		steps []string // written in turn, 30 ms apart
		want  []string // the response bodies, in order
		// afterEach: each step is written only after the previous step's response was read
		afterEach bool
	}{
		{"sequential after idle gaps", []string{req("/a"), req("/b"), req("/c")}, []string{"path=/a", "path=/b", "path=/c"}, true},
		{"next request in pieces", []string{req("/a"), "GET /b HTTP/1.1\r\nHo", "st: ka.test\r\n\r\n"}, []string{"path=/a", "path=/b"}, false},
		{"pipelined in one write", []string{req("/a") + req("/b")}, []string{"path=/a", "path=/b"}, false},
		{"next request while the previous is at the node", []string{req("/slow"), req("/b")}, []string{"path=/slow", "path=/b"}, false},
		{"two pipelined behind a slow one", []string{req("/slow"), req("/b") + req("/c")}, []string{"path=/slow", "path=/b", "path=/c"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
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
			io.WriteString(c, req("/last"))
			read("path=/last")
		})
	}
}

// A client that sends its request and then shuts its sending side (nc -N, scripts) gets the
// response and then the connection's close at once, not after keepalive_timeout: the FIN came
// before the read that took the request, and no poller event follows it.
func TestKeepAliveClientHalfClose(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: ka.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the proxy closes: %v (got %q)", err, all)
	}
	if !bytes.HasPrefix(all, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(all, []byte("\r\n\r\nok")) {
		t.Fatalf("got %q", all)
	}
}
