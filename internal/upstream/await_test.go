package upstream

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
)

// awaitPair is a Conn over a loopback TCP connection set up for writeAwait, and the node's end.
func awaitPair(t *testing.T, read time.Duration) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); peer.Close() })
	c := &Conn{nc: nc, t: Timeouts{Send: 5 * time.Second, Read: read}}
	c.setRaw(nc.(*net.TCPConn))
	return c, peer
}

// A write that waits allocates nothing: it runs once per proxied request.
func TestWriteAwaitAllocatesNothing(t *testing.T) {
	c, peer := awaitPair(t, 5*time.Second)
	go func() {
		buf, ok := make([]byte, 5), []byte("ok")
		for {
			if _, err := io.ReadFull(peer, buf); err != nil {
				return
			}
			if _, err := peer.Write(ok); err != nil {
				return
			}
		}
	}()
	req, buf := []byte("hello"), make([]byte, 2)
	allocs := testing.AllocsPerRun(200, func() {
		c.await = true
		if n, err := c.Write(req); n != len(req) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("Read: %v", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write and read, want 0", allocs)
	}
}

// The write returns once the answer is readable, and the read gets it.
func TestWriteAwaitWaitsForTheAnswer(t *testing.T) {
	c, peer := awaitPair(t, 5*time.Second)
	const delay = 50 * time.Millisecond
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(peer, buf); err == nil {
			time.Sleep(delay)
			peer.Write([]byte("answer"))
		}
	}()
	start := time.Now()
	c.await = true
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if waited := time.Since(start); waited < delay {
		t.Fatalf("Write returned after %v, before the answer (%v)", waited, delay)
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
	if c.written != 5 || c.nread != 6 {
		t.Fatalf("written %d, read %d", c.written, c.nread)
	}
}

// A node that never answers: the wait ends with the Read timeout, and the Read after it
// reports the timeout at once rather than waiting another one.
func TestWriteAwaitReadTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	c, _ := awaitPair(t, timeout)
	c.await = true
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write: %d, %v (a timeout belongs to the read)", n, err)
	}
	if !isTimeout(c.awaitErr) {
		t.Fatalf("the wait ended with %v, want the read timeout", c.awaitErr)
	}
	start := time.Now()
	_, err := c.Read(make([]byte, 16))
	if !isTimeout(err) || !c.timedOut || c.netRErr == nil {
		t.Fatalf("Read: %v, timedOut %v", err, c.timedOut)
	}
	if took := time.Since(start); took >= timeout {
		t.Fatalf("the Read took %v: it waited for a second timeout", took)
	}
}

// A pooled connection the node half-closed while it was idle: the FIN came before the write,
// so the wait would not see it. Past awaitIdleMax the request is written and read the usual
// way and fails at once as stale (retried elsewhere), not after the read timeout.
func TestWriteAwaitSkipsLongIdlePooledConn(t *testing.T) {
	var served atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		served.Add(1)
		c.(*net.TCPConn).CloseWrite() // half-close, keep reading
		io.Copy(io.Discard, br)
	})
	u := upstreamFor(t, &model.Upstream{}, addr)
	n := u.Nodes()[0]
	tm := Timeouts{Connect: time.Second, Send: time.Second, Read: 5 * time.Second}
	do := func() error {
		c, err := n.Acquire(context.Background(), tm)
		if err != nil {
			return err
		}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://upstream.test/")
		err = RoundTrip(c, req, resp)
		c.Release(err == nil)
		return err
	}
	if err := do(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to half-close", func() bool { return served.Load() == 1 })
	time.Sleep(awaitIdleMax + 20*time.Millisecond)
	start := time.Now()
	err := do()
	if !IsStale(err) {
		t.Fatalf("reuse of a half-closed connection: %v, want a stale-connection error", err)
	}
	if took := time.Since(start); took >= tm.Read {
		t.Fatalf("took %v: waited for the read timeout", took)
	}
}

// A request larger than the socket takes at once: the rest goes out the usual way (blocking
// until the node reads), nothing is lost, and the answer is read.
func TestWriteAwaitPartialWrite(t *testing.T) {
	c, peer := awaitPair(t, 5*time.Second)
	// small socket buffers: far less than p fits, whatever the host's defaults
	if err := c.nc.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // the raw write fills the buffers meanwhile
		buf := make([]byte, len(p))
		if _, err := io.ReadFull(peer, buf); err != nil {
			got <- nil
			return
		}
		got <- buf
		peer.Write([]byte("ok"))
	}()
	c.await = true
	if n, err := c.Write(p); n != len(p) || err != nil {
		t.Fatalf("Write: %d of %d, %v", n, len(p), err)
	}
	if b := <-got; !bytes.Equal(b, p) {
		t.Fatal("the node received other bytes than were written")
	}
	buf := make([]byte, 4)
	n, err := io.ReadAtLeast(c, buf, 2)
	if err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}
	if c.written != int64(len(p)) {
		t.Fatalf("written %d, want %d", c.written, len(p))
	}
}

// A node that closed the connection: the write succeeds or fails as the kernel says; either
// way the Read reports the end, and nothing waits for a timeout.
func TestWriteAwaitClosedByNode(t *testing.T) {
	c, peer := awaitPair(t, 5*time.Second)
	peer.Close()
	time.Sleep(20 * time.Millisecond) // the FIN arrives
	start := time.Now()
	c.await = true
	_, werr := c.Write([]byte("hello"))
	_, rerr := c.Read(make([]byte, 16))
	if werr == nil && rerr == nil {
		t.Fatal("write and read to a closed node both succeeded")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v: waited for a timeout", took)
	}
}
