// Package netpoll says which order the Go runtime's network poller readies goroutines in, in
// this build.
//
// The stock runtime hands the goroutines of one poll to the scheduler newest first: on a busy
// core the connection that became ready first is served last, which widens the latency tail.
// Sluice's shipped build (toolchain/netpoll-flags.sh) patches the runtime to hand them over
// oldest first and sets the build tag sluice_fifo_netpoll; docs/netpoll-order.md has the
// measurements.
package netpoll

// Order names the poller order of this build for logs and `sluice version`: "fifo" or "stock".
func Order() string {
	if FIFO {
		return "fifo"
	}
	return "stock"
}
