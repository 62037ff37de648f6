// Package netpoll says which order the Go runtime's network poller readies goroutines in, in
// this build.
//
// The stock runtime hands the goroutines of one poll to the scheduler newest first: on a busy
// core the connection that became ready first is served last, which widens the latency tail.
// Sluice's shipped build (toolchain/netpoll-flags.sh) patches the runtime to hand them over
// oldest first and sets the build tag sluice_fifo_netpoll; docs/netpoll-order.md has the
// measurements.
package netpoll

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Order names the poller order of this build for logs and `sluice version`: "fifo" or "stock".
func Order() string {
	if FIFO {
		return "fifo"
	}
	return "stock"
}

// ReadWaiter parks a connection's reader until the network poller reports the socket readable,
// without the read that Go's net.Conn makes first.
//
// A net.Conn read clears the readiness the poller recorded, reads, and parks only when the read
// found nothing (a syscall returning EAGAIN). Between a keep-alive connection's requests that
// read nearly always finds nothing: the client sends its next request only after it has the
// response, which has just been written. nginx knows from a short read that the socket is empty
// and waits for epoll instead. Wait does the same: after a read that returned less than it
// asked for, the kernel's queue was empty, so any byte arriving later raises a new
// edge-triggered event, which the poller either has recorded already (Wait returns at once) or
// will deliver (Wait parks until then). The read that follows then finds the data.
//
// Only the FIFO build has it (the runtime copy of toolchain/netpoll-flags.sh defines the wait);
// NewReadWaiter returns nil elsewhere.
type ReadWaiter struct {
	raw   syscall.RawConn
	fd    unsafe.Pointer // the connection's *net.netFD
	code  int            // the last wait's poll error code
	step  func(uintptr)  // bound once: a method value made per Wait would escape (an allocation)
	waits atomic.Uint64  // waits made, for tests to see that the wait is used
}

// Waits is how many times Wait waited on the poller.
func (w *ReadWaiter) Waits() uint64 { return w.waits.Load() }

// Wait parks until the socket is readable, its read deadline passed, or it was closed; it
// returns whether it is readable. Call it only when the caller's last read on the connection
// returned fewer bytes than it asked for, and only from the connection's one reader: otherwise
// bytes already queued may raise no new event, and Wait would sleep until the deadline (a
// concurrent reader makes it return at once instead, but the wait bypasses the descriptor's
// read lock). After Wait, read as usual: the read reports a deadline or a close.
//
// TCP urgent data (MSG_OOB) ends a read early with bytes still queued; a client sending it
// idles until its deadline, as with nginx.
func (w *ReadWaiter) Wait() bool {
	w.code = -1
	if err := w.raw.Control(w.step); err != nil {
		return false
	}
	return w.code == 0
}
