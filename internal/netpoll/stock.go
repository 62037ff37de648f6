//go:build !sluice_fifo_netpoll

package netpoll

import "net"

// FIFO is false with the stock runtime: one poll's goroutines run newest first.
const FIFO = false

// NewReadWaiter returns nil: the stock runtime has no wait without a readiness reset.
func NewReadWaiter(*net.TCPConn) *ReadWaiter { return nil }
