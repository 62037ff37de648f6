package netpoll

import (
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestPollOrder parks readers on loopback connections, makes their data arrive in a known
// order while the only P is busy, and checks the order the readers then run in: the kernel's
// in a build from toolchain/netpoll-flags.sh, newest first with the stock runtime (the reason
// for the patch: if a Go release changes that, this test says so).
func TestPollOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 8
	want := make([]int, n)
	for i := range want {
		want[i] = i
		if !FIFO {
			want[i] = n - 1 - i
		}
	}
	var got []int
	for attempt := 0; attempt < 5; attempt++ {
		got = pollOrder(t, n)
		if slices.Equal(got, want) {
			if FIFO {
				continue // FIFO must hold in every attempt
			}
			return
		}
		if FIFO {
			t.Fatalf("build %q: readers ran in order %v, want the kernel's %v", Order(), got, want)
		}
	}
	if !FIFO {
		t.Fatalf("stock runtime: readers ran in order %v in every attempt, want newest first %v "+
			"(has Go changed its poller order? then toolchain/netpoll-flags.sh may be unneeded)", got, want)
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
	clients := make([]net.Conn, n)
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
		clients[i] = c
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
	// Writes on loopback are delivered within the syscall, so epoll's ready list gets the
	// servers in this order. Nothing here blocks, so no poll happens until the receive below.
	for _, c := range clients {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	order := make([]int, 0, n)
	for range n {
		order = append(order, <-ran)
	}
	return order
}
