package conf

import (
	"net"
	"strconv"
)

// AdminAddr is the Admin API's host:port (deployment.admin.admin_listen).
func (c *Config) AdminAddr() string {
	return hostPort(c.Deployment.Admin.AdminListen.IP, c.Deployment.Admin.AdminListen.Port)
}

// ControlAddr is the control API's host:port (apisix.control).
func (c *Config) ControlAddr() string {
	return hostPort(c.Apisix.Control.IP, c.Apisix.Control.Port)
}

// StatusAddr is the status API's host:port, or "" when apisix.status is not set.
func (c *Config) StatusAddr() string {
	if c.Apisix.Status == nil {
		return ""
	}
	return hostPort(c.Apisix.Status.IP, c.Apisix.Status.Port)
}

// ProxyAddrs are the HTTP proxy's host:port addresses from apisix.node_listen. An unset ip is
// 0.0.0.0 (IPv4 only, as in nginx); with enable_ipv6 each such listener also gets [::]:port,
// which the listener must open IPv6-only (tcp6) so it does not collide with the IPv4 socket.
func (c *Config) ProxyAddrs() []string {
	return listenAddrs(c.Apisix.NodeListen, c.Apisix.EnableIPv6)
}

// SSLAddrs are the HTTPS proxy's addresses from apisix.ssl.listen (nil when ssl.enable is
// false), with the same IPv6 rule as ProxyAddrs.
func (c *Config) SSLAddrs() []string {
	if !c.Apisix.SSL.Enable {
		return nil
	}
	return listenAddrs(c.Apisix.SSL.Listen, c.Apisix.EnableIPv6)
}

func listenAddrs(ls []Listen, ipv6 bool) []string {
	var out []string
	for _, l := range ls {
		out = append(out, hostPort(l.IP, l.Port))
		if ipv6 && (l.IP == "" || l.IP == "0.0.0.0") {
			out = append(out, net.JoinHostPort("::", strconv.Itoa(l.Port)))
		}
	}
	return out
}

// StreamMode reports whether apisix.proxy_mode enables the L4 stream proxy.
func (c *Config) StreamMode() bool {
	return c.Apisix.ProxyMode == "stream" || c.Apisix.ProxyMode == "http&stream"
}

// Embedded reports whether the node runs its own etcd: no deployment.etcd.host configured.
func (c *Config) Embedded() bool { return len(c.Deployment.Etcd.Host) == 0 }

// hostPort joins ip and port; an empty ip means every IPv4 address.
func hostPort(ip string, port int) string {
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(unbracket(ip), strconv.Itoa(port))
}

// HTTPMode reports whether apisix.proxy_mode enables the HTTP proxy.
func (c *Config) HTTPMode() bool {
	return c.Apisix.ProxyMode == "http" || c.Apisix.ProxyMode == "http&stream"
}

// HTTP3Addrs are the apisix.ssl.listen entries with enable_http3: HTTP/3 on their UDP port
// (nil when ssl.enable is false).
func (c *Config) HTTP3Addrs() []string {
	if !c.Apisix.SSL.Enable {
		return nil
	}
	var h3 []Listen
	for _, l := range c.Apisix.SSL.Listen {
		if l.EnableHTTP3 {
			h3 = append(h3, l)
		}
	}
	return listenAddrs(h3, c.Apisix.EnableIPv6)
}
