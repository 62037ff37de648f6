//go:build !sluice_fifo_netpoll

package netpoll

// FIFO is false with the stock runtime: one poll's goroutines run newest first.
const FIFO = false
