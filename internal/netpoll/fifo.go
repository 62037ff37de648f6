//go:build sluice_fifo_netpoll

package netpoll

// FIFO is true in a build made with toolchain/netpoll-flags.sh: goroutines whose descriptors
// became ready in one poll run in the order the kernel reported them.
const FIFO = true
