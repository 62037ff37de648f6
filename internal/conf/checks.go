package conf

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

var (
	roles      = []string{"traditional", "data_plane", "control_plane"}
	proxyModes = []string{"http", "stream", "http&stream"}
	httpRouter = []string{"radixtree_host_uri", "radixtree_uri", "radixtree_uri_with_parameter"}
	sslRouter  = []string{"radixtree_sni"}
	adminRoles = []string{"admin", "viewer"}
	apiVersion = []string{"v3"}
)

// checkKeys applies the rules that concern one key at a time: enums, port ranges, addresses.
func (c *Config) checkKeys(p *problems) {
	a, dep := &c.Apisix, &c.Deployment
	for i, l := range a.NodeListen {
		checkListen(p, index("apisix.node_listen", i), l)
	}
	for i, l := range a.SSL.Listen {
		checkListen(p, index("apisix.ssl.listen", i), l)
	}
	checkAddr(p, "apisix.control", a.Control)
	if a.Status != nil {
		checkAddr(p, "apisix.status", *a.Status)
	}
	checkEnum(p, "apisix.proxy_mode", a.ProxyMode, proxyModes)
	checkEnum(p, "apisix.router.http", a.Router.HTTP, httpRouter)
	checkEnum(p, "apisix.router.ssl", a.Router.SSL, sslRouter)
	for i, k := range a.DataEncryption.Keyring {
		// AES-128 or AES-256 with key = IV = the entry (apisix/core/data_encryption.lua).
		if len(k) != 16 && len(k) != 32 {
			p.fail(index("apisix.data_encryption.keyring", i), "must be 16 or 32 bytes long, got %d", len(k))
		}
	}

	checkEnum(p, "deployment.role", dep.Role, roles)
	for i, k := range dep.Admin.AdminKey {
		checkEnum(p, index("deployment.admin.admin_key", i)+".role", k.Role, adminRoles)
	}
	checkAddr(p, "deployment.admin.admin_listen", dep.Admin.AdminListen)
	for i, e := range dep.Admin.AllowAdmin {
		if !isIPOrCIDR(e) {
			p.fail(index("deployment.admin.allow_admin", i), "%q is not an IP address or CIDR", e)
		}
	}
	checkEnum(p, "deployment.admin.admin_api_version", dep.Admin.AdminAPIVersion, apiVersion)
	for i, h := range dep.Etcd.Host {
		checkURL(p, index("deployment.etcd.host", i), h)
	}
	if dep.Etcd.Timeout < 1 {
		p.fail("deployment.etcd.timeout", "must be at least 1, got %d", dep.Etcd.Timeout)
	}
	checkURL(p, "deployment.etcd.embedded.listen_client", dep.Etcd.Embedded.ListenClient)
	checkURL(p, "deployment.etcd.embedded.listen_peer", dep.Etcd.Embedded.ListenPeer)
}

func checkListen(p *problems, path string, l Listen) {
	checkPort(p, join(path, "port"), l.Port)
	checkIP(p, join(path, "ip"), l.IP)
}

func checkAddr(p *problems, path string, a Addr) {
	checkPort(p, join(path, "port"), a.Port)
	checkIP(p, join(path, "ip"), a.IP)
}

func checkPort(p *problems, path string, port int) {
	if port < 1 || port > 65535 {
		p.fail(path, "must be between 1 and 65535, got %d", port)
	}
}

// checkIP accepts an empty ip (every address) and IPv6 with or without brackets.
func checkIP(p *problems, path, ip string) {
	if ip == "" {
		return
	}
	if _, err := netip.ParseAddr(unbracket(ip)); err != nil {
		p.fail(path, "%q is not an IP address", ip)
	}
}

func checkEnum(p *problems, path, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.fail(path, "must be %s", quoteList(allowed))
}

// checkURL wants http(s)://host:port, the form etcd endpoints and listen URLs take.
func checkURL(p *problems, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(path, "must be an http:// or https:// URL, got %q", s)
	}
}

func isIPOrCIDR(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

func unbracket(ip string) string {
	return strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
}

// quoteList renders `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
