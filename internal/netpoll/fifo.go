//go:build sluice_fifo_netpoll

package netpoll

import (
	"net"
	"reflect"
	"unsafe" // go:linkname, and the net.TCPConn layout
)

// FIFO is true in a build made with toolchain/netpoll-flags.sh: goroutines whose descriptors
// became ready in one poll run in the order the kernel reported them.
const FIFO = true

// patchedRuntime is defined only by the runtime copy toolchain/netpoll-flags.sh makes: a build
// with the tag but without that runtime fails to link rather than run with the yield off on the
// stock order.
//
//go:linkname patchedRuntime runtime.sluiceNetpollFIFO
func patchedRuntime() bool

// pollWaitRead is runtime.poll_runtime_pollWait(pd, 'r') without internal/poll's reset before
// it (the runtime copy of toolchain/netpoll-flags.sh).
//
//go:linkname pollWaitRead runtime.sluicePollWaitRead
func pollWaitRead(ctx uintptr) int

func init() {
	if !patchedRuntime() {
		panic("netpoll: runtime.sluiceNetpollFIFO reports a stock runtime")
	}
	fdOff, ctxOff, layoutOK = tcpConnLayout()
}

// The offsets of a net.TCPConn's *netFD and of that netFD's pfd.pd.runtimeCtx (the runtime's
// pollDesc), found by reflection once; layoutOK is false when the standard library's layout is
// not the one expected (no ReadWaiter then).
var (
	fdOff, ctxOff uintptr
	layoutOK      bool
)

func tcpConnLayout() (fdOff, ctxOff uintptr, ok bool) {
	t := reflect.TypeFor[net.TCPConn]()
	fdOff, fdType, ok := fieldPath(t, step{"conn", "net.conn"}, step{"fd", "*net.netFD"})
	if !ok {
		return 0, 0, false
	}
	ctxOff, _, ok = fieldPath(fdType.Elem(), step{"pfd", "poll.FD"}, step{"pd", "poll.pollDesc"}, step{"runtimeCtx", "uintptr"})
	if !ok {
		return 0, 0, false
	}
	return fdOff, ctxOff, true
}

// step is one field of a path: its name and its type's name.
type step struct{ name, typ string }

// fieldPath is the offset and type of the field reached from struct t through steps, each
// field direct (not promoted) and of the type named.
func fieldPath(t reflect.Type, steps ...step) (uintptr, reflect.Type, bool) {
	var off uintptr
	for _, s := range steps {
		if t.Kind() != reflect.Struct {
			return 0, nil, false
		}
		f, ok := t.FieldByName(s.name)
		if !ok || len(f.Index) != 1 || f.Type.String() != s.typ {
			return 0, nil, false
		}
		off += f.Offset
		t = f.Type
	}
	return off, t, true
}

// NewReadWaiter returns c's ReadWaiter, or nil when the layout of net.TCPConn is not the one
// this build knows or c has no descriptor.
func NewReadWaiter(c *net.TCPConn) *ReadWaiter {
	if !layoutOK || c == nil {
		return nil
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	fd := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(c), fdOff))
	if fd == nil {
		return nil
	}
	w := &ReadWaiter{raw: raw, fd: fd}
	w.step = w.wait
	return w
}

// wait runs inside RawConn.Control, which holds a reference on the descriptor: a concurrent
// Close cannot free the pollDesc (and hand it to another connection) while it is used here;
// the Close wakes the wait with an error instead.
func (w *ReadWaiter) wait(uintptr) {
	ctx := *(*uintptr)(unsafe.Add(w.fd, ctxOff))
	if ctx == 0 {
		return
	}
	w.waits.Add(1)
	w.code = pollWaitRead(ctx)
}
