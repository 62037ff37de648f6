package conf

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// configProviders are the config_provider values each role accepts (apisix/cli/schema.lua and
// the deployment docs).
var configProviders = map[string][]string{
	"traditional":   {"etcd", "yaml"},
	"data_plane":    {"etcd", "yaml", "json", "xds"},
	"control_plane": {"etcd"},
}

// Validate checks rules that span several keys: listeners sharing a port, the deployment
// role's config provider and what it needs, TLS settings that only make sense together.
// Parse runs it; `sluice validate` reports its result.
func (c *Config) Validate() error {
	p := &problems{source: c.source, lines: c.lines}
	if p.lines == nil {
		p.lines = map[string]int{}
	}
	c.checkListeners(p)
	if _, _, err := c.streamProxy(); err != nil {
		p.fail(err.Path, "%s", err.Msg)
	}
	if _, err := c.ProxyProtocol(); err != nil {
		p.fail("apisix.proxy_protocol", "%s", strings.TrimPrefix(err.Error(), "apisix.proxy_protocol."))
	}

	role, provider := c.Deployment.Role, c.ConfigProvider()
	if allowed, ok := configProviders[role]; ok {
		checkEnum(p, "deployment.role_"+role+".config_provider", provider, allowed)
	}
	if role == "data_plane" && provider == "etcd" && c.Embedded() {
		p.fail("deployment.etcd.host", "a data_plane node reads its configuration from an etcd cluster: set deployment.etcd.host (the embedded etcd runs only on traditional and control_plane nodes)")
	}

	tls := c.Deployment.Etcd.TLS
	if tls.Cert != "" && tls.Key == "" {
		p.fail("deployment.etcd.tls.key", "required when deployment.etcd.tls.cert is set")
	}
	if tls.Key != "" && tls.Cert == "" {
		p.fail("deployment.etcd.tls.cert", "required when deployment.etcd.tls.key is set")
	}
	if https, _ := c.Deployment.Admin.Extra["https_admin"].(bool); https {
		mtls, _ := c.Deployment.Admin.Extra["admin_api_mtls"].(map[string]any)
		cert, _ := mtls["admin_ssl_cert"].(string)
		key, _ := mtls["admin_ssl_cert_key"].(string)
		if cert == "" || key == "" {
			// APISIX's own wording (apisix/cli/ops.lua).
			p.fail("deployment.admin.https_admin", "missing ssl cert for https admin")
		}
	}
	return errors.Join(p.errs...)
}

// ConfigProvider is deployment.role_<role>.config_provider: "etcd" (the default), "yaml",
// "json" or "xds".
func (c *Config) ConfigProvider() string {
	section, _ := c.Deployment.Extra["role_"+c.Deployment.Role].(map[string]any)
	if p, ok := section["config_provider"].(string); ok {
		return p
	}
	return "etcd"
}

// listener is one socket the node will open, for the port-conflict check.
type listener struct {
	path string
	ip   string
	port int
}

func (c *Config) listeners() []listener {
	var ls []listener
	a, role := &c.Apisix, c.Deployment.Role
	if role != "control_plane" {
		for i, l := range a.NodeListen {
			ls = append(ls, listener{index("apisix.node_listen", i), l.IP, l.Port})
		}
		if a.SSL.Enable {
			for i, l := range a.SSL.Listen {
				ls = append(ls, listener{index("apisix.ssl.listen", i), l.IP, l.Port})
			}
		}
	}
	if role != "data_plane" {
		ad := c.Deployment.Admin.AdminListen
		ls = append(ls, listener{"deployment.admin.admin_listen", ad.IP, ad.Port})
	}
	if tcp, _, err := c.streamProxy(); err == nil && role != "control_plane" {
		for i, l := range tcp {
			host, p, _ := net.SplitHostPort(l.Addr)
			port, _ := strconv.Atoi(p)
			ls = append(ls, listener{index("apisix.stream_proxy.tcp", i), host, port})
		}
	}
	if a.EnableControl {
		ls = append(ls, listener{"apisix.control", a.Control.IP, a.Control.Port})
	}
	if a.Status != nil {
		ls = append(ls, listener{"apisix.status", a.Status.IP, a.Status.Port})
	}
	if c.Embedded() {
		emb := c.Deployment.Etcd.Embedded
		for _, u := range []struct{ path, url string }{
			{"deployment.etcd.embedded.listen_client", emb.ListenClient},
			{"deployment.etcd.embedded.listen_peer", emb.ListenPeer},
		} {
			if ip, port, ok := urlHostPort(u.url); ok {
				ls = append(ls, listener{u.path, ip, port})
			}
		}
	}
	return ls
}

// checkListeners reports a listener whose port an earlier one already takes on an
// overlapping address (APISIX leaves this to nginx, which fails to start).
func (c *Config) checkListeners(p *problems) {
	ls := c.listeners()
	for i, l := range ls {
		for _, prev := range ls[:i] {
			if l.port == prev.port && overlaps(l.ip, prev.ip) {
				p.fail(l.path, "port %d is already used by %s", l.port, prev.path)
				break
			}
		}
	}
}

// overlaps reports whether two listen IPs can collide on one port: the same address, or a
// wildcard covering the other ("" and "::" cover both families, 0.0.0.0 only IPv4).
func overlaps(a, b string) bool {
	pa, errA := parseListenIP(a)
	pb, errB := parseListenIP(b)
	if errA != nil || errB != nil {
		return a == b
	}
	covers := func(w, x netip.Addr) bool {
		if !w.IsUnspecified() {
			return false
		}
		return w.Is6() || x.Is4() || x.Is4In6()
	}
	return pa == pb || covers(pa, pb) || covers(pb, pa)
}

func parseListenIP(ip string) (netip.Addr, error) {
	if ip == "" {
		return netip.IPv6Unspecified(), nil
	}
	return netip.ParseAddr(unbracket(ip))
}

func urlHostPort(s string) (string, int, bool) {
	u, err := url.Parse(s)
	if err != nil {
		return "", 0, false
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(portStr)
	return host, port, err == nil
}
