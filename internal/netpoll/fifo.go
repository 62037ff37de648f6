//go:build sluice_fifo_netpoll

package netpoll

import _ "unsafe" // go:linkname

// FIFO is true in a build made with toolchain/netpoll-flags.sh: goroutines whose descriptors
// became ready in one poll run in the order the kernel reported them.
const FIFO = true

// patchedRuntime is defined only by the runtime copy toolchain/netpoll-flags.sh makes: a build
// with the tag but without that runtime fails to link rather than run with the yield off on the
// stock order.
//
//go:linkname patchedRuntime runtime.sluiceNetpollFIFO
func patchedRuntime() bool

func init() {
	if !patchedRuntime() {
		panic("netpoll: runtime.sluiceNetpollFIFO reports a stock runtime")
	}
}
