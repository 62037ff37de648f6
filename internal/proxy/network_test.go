package proxy

import "testing"

// IPv4 listeners are IPv4-only (Go would open "tcp" on 0.0.0.0 dual-stack), IPv6 ones
// IPv6-only, so 0.0.0.0 and [::] can share a port and enable_ipv6 off means no IPv6.
func TestListenNetwork(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:9080": "tcp4", "127.0.0.1:0": "tcp4", "[::]:9080": "tcp6", "[::1]:0": "tcp6",
		"localhost:9080": "tcp",
	} {
		if got := network(addr); got != want {
			t.Errorf("network(%q) = %s, want %s", addr, got, want)
		}
	}
}
