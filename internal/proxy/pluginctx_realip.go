package proxy

import (
	"net/netip"
	"strconv"

	"github.com/sluicegw/sluice/plugin"
)

// The real-ip plugin's hook on the HTTP/1.1 context. As with nginx's realip module, only
// $remote_addr and $remote_port change: $realip_remote_addr stays the TCP peer (rc.peer),
// and the upstream request, built after the request phases (headers.go), takes X-Real-IP
// and a client-less X-Forwarded-For from the new rc.remote.

// SetRemoteAddr replaces the client address for the rest of the request.
func (rc *reqCtx) SetRemoteAddr(addr netip.Addr, port uint16) {
	if !addr.IsValid() {
		return
	}
	rc.remote = addr.Unmap()
	rc.realPort = portOverride{port: port, set: true}
}

// portOverride is $remote_port once a plugin replaced the client address; the zero value
// means it was not, and $remote_port is the TCP peer's.
type portOverride struct {
	port uint16
	set  bool
}

// appendRemotePort formats $remote_port: the override when set (empty for port 0, as nginx
// prints an address without a port), else peer.
func (o portOverride) appendRemotePort(dst []byte, peer uint16) ([]byte, bool) {
	if !o.set {
		return strconv.AppendUint(dst, uint64(peer), 10), true
	}
	if o.port == 0 {
		return dst[:0], true
	}
	return strconv.AppendUint(dst, uint64(o.port), 10), true
}

var _ plugin.RemoteAddrSetter = (*reqCtx)(nil)
