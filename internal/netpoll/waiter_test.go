package netpoll

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a loopback connection: the accepted end (server) and the dialled one.
func tcpPair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*net.TCPConn), client
}

// drainedWaiter returns the server end's ReadWaiter after a short read drained the socket,
// as the proxy calls Wait; it skips where the build has none.
func drainedWaiter(t *testing.T) (*net.TCPConn, net.Conn, *ReadWaiter) {
	t.Helper()
	s, c := tcpPair(t)
	w := NewReadWaiter(s)
	if !FIFO {
		if w != nil {
			t.Fatal("stock build: NewReadWaiter returned a waiter")
		}
		t.Skip("stock runtime: no ReadWaiter")
	}
	if w == nil {
		t.Fatal("FIFO build: no ReadWaiter for a TCP connection (net.TCPConn layout not recognised)")
	}
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// a read that finds nothing clears a readiness the poller may have recorded for "first"
	// after the read above had begun (a Wait would return at once on it)
	if err := s.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v, want a timeout", err)
	}
	// a 10 s deadline bounds every wait below: a wait that misses its wake-up fails the test
	// with a timeout instead of hanging it
	if err := s.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return s, c, w
}

func readString(t *testing.T, s net.Conn) string {
	t.Helper()
	buf := make([]byte, 64)
	n, err := s.Read(buf)
	if err != nil {
		t.Fatalf("read after Wait: %v", err)
	}
	return string(buf[:n])
}

// Data that arrives while the reader is parked wakes it.
func TestReadWaiterWakesOnData(t *testing.T) {
	s, c, w := drainedWaiter(t)
	done := make(chan bool)
	go func() { done <- w.Wait() }()
	time.Sleep(20 * time.Millisecond) // let the reader park first
	if _, err := c.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	if !<-done {
		t.Fatal("Wait reported no data")
	}
	if got := readString(t, s); got != "second" {
		t.Fatalf("read %q after Wait, want second", got)
	}
}

// Data the poller saw before Wait (its readiness recorded while nobody waited) is not lost:
// Wait returns at once. A wait that cleared that readiness first, as net.Conn reads do, would
// sleep until the deadline here.
func TestReadWaiterSeesEarlierReadiness(t *testing.T) {
	s, c, w := drainedWaiter(t)
	if _, err := c.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the only goroutine sleeps: the scheduler polls and records it
	if !w.Wait() {
		t.Fatal("Wait missed data that arrived before it")
	}
	if got := readString(t, s); got != "second" {
		t.Fatalf("read %q after Wait, want second", got)
	}
}

// The peer's FIN ends the wait; the read reports EOF.
func TestReadWaiterPeerClose(t *testing.T) {
	s, c, w := drainedWaiter(t)
	go func() { time.Sleep(20 * time.Millisecond); c.Close() }()
	if !w.Wait() {
		t.Fatal("Wait did not report the peer's close as readable")
	}
	if _, err := s.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("read after the peer's close: %v, want EOF", err)
	}
}

// The read deadline ends the wait; the read that follows reports it.
func TestReadWaiterDeadline(t *testing.T) {
	s, _, w := drainedWaiter(t)
	if err := s.SetReadDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if w.Wait() {
		t.Fatal("Wait reported data that was never sent")
	}
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// Closing the connection from another goroutine ends the wait (the drain closes idle
// keep-alive connections so).
func TestReadWaiterClose(t *testing.T) {
	s, _, w := drainedWaiter(t)
	go func() { time.Sleep(20 * time.Millisecond); s.Close() }()
	if w.Wait() {
		t.Fatal("Wait reported data on a closed connection")
	}
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
	if w.Wait() {
		t.Fatal("Wait on a closed connection reported data")
	}
}

// A FIN that arrived with (or right after) the bytes the short read took raises no event after
// that read: Wait must still return at once, so that the read reports EOF instead of the
// connection idling until its deadline.
func TestReadWaiterEarlierFIN(t *testing.T) {
	s, c := tcpPair(t)
	w := NewReadWaiter(s)
	if w == nil {
		if FIFO {
			t.Fatal("FIFO build: no ReadWaiter for a TCP connection")
		}
		t.Skip("stock runtime: no ReadWaiter")
	}
	if _, err := c.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(20 * time.Millisecond) // the only goroutine sleeps: the poller records data and FIN
	buf := make([]byte, 64)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "last" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if err := s.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if !w.Wait() {
		t.Fatal("Wait missed the FIN that came before the read")
	}
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("read after the FIN: %v, want EOF", err)
	}
}
