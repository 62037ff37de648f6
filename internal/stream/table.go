// Package stream is the L4 proxy of stream_routes (APISIX's stream subsystem): TCP and UDP
// listeners from apisix.stream_proxy, the route match on client and server address, server
// port and TLS SNI, the stream plugins' preread and log phases, and the copy between the
// client and an upstream node picked by the upstream's balancer.
package stream

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// Route is one compiled stream route. Immutable once built.
type Route struct {
	ID   string
	Key  string // etcd key
	Name string

	remote, server netip.Prefix // zero: any
	port           int          // 0: any
	sni            string       // lower-case; "" for a route without sni

	// Upstream is where connections go (the route's upstream, upstream_id or its service's);
	// nil closes them.
	Upstream *upstream.Upstream
	// Plugins run in stream priority order (highest first).
	Plugins []Plugin
}

// Plugin is one stream plugin instance of a route.
type Plugin struct {
	Name    string
	Preread plugin.StreamPrereader // nil when the plugin has no preread phase
	Log     plugin.StreamLogger    // nil when it has no log phase
	// Hold, when set, keeps the instance open for a session (it may outlive the snapshot
	// that compiled it); the session calls the release it returns when it ends.
	Hold func() (release func())
}

// RouteSpec is what a stream route matches on, as the Admin API stores it.
type RouteSpec struct {
	RemoteAddr, ServerAddr string // IP or CIDR
	ServerPort             int
	SNI                    string
}

// NewRoute compiles spec's match fields.
func NewRoute(id, key, name string, spec RouteSpec) (*Route, error) {
	r := &Route{ID: id, Key: key, Name: name, port: spec.ServerPort, sni: strings.ToLower(strings.TrimSuffix(spec.SNI, "."))}
	var err error
	if r.remote, err = prefix(spec.RemoteAddr); err != nil {
		return nil, fmt.Errorf("remote_addr: %w", err)
	}
	if r.server, err = prefix(spec.ServerAddr); err != nil {
		return nil, fmt.Errorf("server_addr: %w", err)
	}
	return r, nil
}

func prefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// matchAddrs applies the route's remote_addr, server_addr and server_port.
func (r *Route) matchAddrs(remote, server netip.Addr, port int) bool {
	if r.remote.IsValid() && !r.remote.Contains(remote.Unmap()) {
		return false
	}
	if r.server.IsValid() && !r.server.Contains(server.Unmap()) {
		return false
	}
	return r.port == 0 || r.port == port
}

// Table matches connections to routes as APISIX's stream router does: a connection with an
// SNI tries the routes of that server name first (exact, then wildcards "*.x.com" from the
// longest, covering any depth, then "*"), each list in configuration order; then the routes
// without sni, in configuration order. The first whose addresses match wins.
type Table struct {
	// upstreams are the named upstream objects (traffic-split's upstream_id).
	upstreams map[string]*upstream.Upstream
	exact     map[string][]*Route
	wild      map[string][]*Route // "x.com" for "*.x.com"
	any       []*Route            // sni "*"
	plain     []*Route
	all       []*Route // configuration order
}

// NewTable indexes routes, given in configuration order; upstreams are the named upstream
// objects plugins may pick by id.
func NewTable(routes []*Route, upstreams map[string]*upstream.Upstream) *Table {
	t := &Table{upstreams: upstreams, exact: map[string][]*Route{}, wild: map[string][]*Route{}, all: routes}
	for _, r := range routes {
		switch {
		case r.sni == "":
			t.plain = append(t.plain, r)
		case r.sni == "*":
			t.any = append(t.any, r)
		case strings.HasPrefix(r.sni, "*."):
			t.wild[r.sni[2:]] = append(t.wild[r.sni[2:]], r)
		default:
			t.exact[r.sni] = append(t.exact[r.sni], r)
		}
	}
	return t
}

// Routes are the routes in configuration order (read only).
func (t *Table) Routes() []*Route {
	if t == nil {
		return nil
	}
	return t.all
}

// Match returns the route of a connection, or nil.
func (t *Table) Match(remote, server netip.Addr, port int, sni string) *Route {
	if t == nil {
		return nil
	}
	if sni != "" {
		if r := t.matchSNI(strings.ToLower(strings.TrimSuffix(sni, ".")), remote, server, port); r != nil {
			return r
		}
	}
	return first(t.plain, remote, server, port)
}

// matchSNI tries the routes of the server name from the most specific to the least, as a
// radix tree's longest match falls back to shorter prefixes when a route's filter refuses.
func (t *Table) matchSNI(sni string, remote, server netip.Addr, port int) *Route {
	if r := first(t.exact[sni], remote, server, port); r != nil {
		return r
	}
	for rest := sni; ; {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		if r := first(t.wild[rest], remote, server, port); r != nil {
			return r
		}
	}
	return first(t.any, remote, server, port)
}

func first(routes []*Route, remote, server netip.Addr, port int) *Route {
	for _, r := range routes {
		if r.matchAddrs(remote, server, port) {
			return r
		}
	}
	return nil
}
