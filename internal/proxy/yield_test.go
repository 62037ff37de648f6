package proxy

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// TestYieldBeforeRead: the upstream exchange yields before reading the answer only while more
// client connections are open than the threshold, and requests are answered either way.
func TestYieldBeforeRead(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no length: chunked to Sluice, close-delimited to HTTP/1.0
			io.WriteString(w, "chunk")
			return
		}
		io.WriteString(w, "ok")
	})
	src := &staticSnapshots{}
	src.s.Store(buildSnapshot(t, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}}))
	s, err := Listen(Options{Addrs: []string{"127.0.0.1:0"}, Snapshots: src,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	s.yieldAbove = 2 // before Serve: no connection reads it earlier
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	addr := s.Addrs()[0].String()

	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	get := func(c net.Conn) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil || n < 12 || string(buf[:12]) != "HTTP/1.1 200" {
			t.Fatalf("response %q, %v", buf[:n], err)
		}
	}
	waitYield := func(want bool) {
		t.Helper()
		for i := 0; s.yieldBeforeRead() != want; i++ {
			if i > 200 {
				t.Fatalf("yieldBeforeRead() = %v with %d connections open, want %v", !want, s.open.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := 1; i <= 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		get(c)
		waitYield(i > 2)
	}
	get(conns[0]) // answered while yielding
	conns[2].Close()
	conns = conns[:2]
	waitYield(false)
	get(conns[1])

	// connections served outside fasthttp's loop (a close-delimited HTTP/1.0 answer here)
	// leave the count as they found it
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /chunked HTTP/1.0\r\nHost: a\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(c); err != nil || !bytes.HasSuffix(b, []byte("chunk")) {
			t.Fatalf("HTTP/1.0 answer %q, %v", b, err)
		}
		c.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	for i := 0; s.open.Load() != 0; i++ {
		if i > 200 {
			t.Fatalf("%d connections counted open after all closed", s.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
