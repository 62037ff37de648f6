package proxy

import (
	"net/netip"

	"github.com/sluicegw/sluice/plugin"
)

// The real-ip plugin's hook on the HTTP/2 context, with the same semantics as on HTTP/1.1
// (pluginctx_realip.go): the forwarders derive X-Real-IP and X-Forwarded-For from
// hc.addrs after the request phases, so they follow the new address.

// SetRemoteAddr replaces the client address for the rest of the request.
func (hc *h2Ctx) SetRemoteAddr(addr netip.Addr, port uint16) {
	if !addr.IsValid() {
		return
	}
	hc.addrs.remote = addr.Unmap()
	hc.addrs.realPort = portOverride{port: port, set: true}
}

var _ plugin.RemoteAddrSetter = (*h2Ctx)(nil)
