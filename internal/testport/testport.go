// Package testport hands tests free loopback ports. One process-wide record of the ports
// handed out means two servers of one test binary (a gateway node, its etcd, a Redis) are never
// given the same port, even when the kernel re-offers a just-closed one.
package testport

import (
	"net"
	"sync"
	"testing"
)

var (
	mu        sync.Mutex
	handedOut = map[int]bool{}
)

// Free returns a loopback port that was free a moment ago and that this process has not
// handed out before. Another process may take it before the caller binds it; that is rare
// enough for tests. Ports above 55535 are skipped: a Redis cluster node also listens on
// port+10000 (its bus port).
func Free(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut[port] && port+10000 <= 65535 {
			handedOut[port] = true
			return port
		}
	}
}
