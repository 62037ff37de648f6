//go:build !unix

package upstream

import "net"

// alive cannot peek portably here; a closed connection then fails its next request as stale.
func alive(net.Conn) bool { return true }
