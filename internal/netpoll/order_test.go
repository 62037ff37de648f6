//go:build linux

package netpoll

import (
	"net"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPollOrder parks readers on loopback connections, makes their data arrive in a known
// order while the only P is busy, and checks the order the readers then run in. In a build
// from toolchain/netpoll-flags.sh it is the kernel's, in every attempt. With the stock runtime
// the readers of one poll run newest first; a poll may happen between two writes (sysmon hands
// the P on during a slow write syscall), which splits the readers into several polls, so the
// stock check is that some attempt ran a reader before one that became ready earlier (if a Go
// release changes that, this test says so and the patch may be unneeded).
func TestPollOrder(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's scheduler shuffles run queues: no order to check")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n, attempts = 8, 5
	for attempt := 0; attempt < attempts; attempt++ {
		got := pollOrder(t, n)
		ascending := slices.IsSorted(got) && got[0] == 0 && got[n-1] == n-1
		switch {
		case FIFO && !ascending:
			t.Fatalf("build %q: readers ran in order %v, want the kernel's 0..%d", Order(), got, n-1)
		case !FIFO && !ascending:
			t.Logf("stock runtime: readers ran in order %v", got)
			return
		}
	}
	if !FIFO {
		t.Fatalf("stock runtime: readers ran oldest first in all %d attempts; "+
			"has Go changed its poller order?", attempts)
	}
}

// pollOrder returns the order in which n readers, parked in the network poller, run after
// data reached them in the order 0..n-1 within one poll.
func pollOrder(t *testing.T, n int) []int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clients, servers := make([]net.Conn, n), make([]net.Conn, n)
	ran := make(chan int, n)
	for i := range clients {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		clients[i], servers[i] = c, s
		go func(i int, s net.Conn) {
			var b [1]byte
			if _, err := s.Read(b[:]); err == nil {
				ran <- i
			} else {
				ran <- -1
			}
		}(i, s)
	}
	// every reader runs, finds nothing and parks in the poller
	time.Sleep(20 * time.Millisecond)
	// Each byte is in its server's socket before the next is written, so epoll's ready list
	// has the servers in this order, and all of them are ready before the receive below lets
	// the scheduler poll (nothing here blocks).
	for i, c := range clients {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		waitQueued(t, servers[i], ran)
	}
	order := make([]int, 0, n)
	for range n {
		order = append(order, <-ran)
	}
	return order
}

// waitQueued spins until c's socket holds unread data (loopback delivers within the write, but
// a softirq may defer it), or until a reader ran: a poll happened, maybe reading c's data.
func waitQueued(t *testing.T, c net.Conn, ran chan int) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Second); ; {
		var queued int
		var ierr error
		if err := rc.Control(func(fd uintptr) { queued, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil {
			t.Fatal(err)
		}
		if ierr != nil {
			t.Fatal(ierr)
		}
		if queued > 0 || len(ran) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a byte written on loopback was not queued within 1s")
		}
	}
}
