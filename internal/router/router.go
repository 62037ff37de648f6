// Package router matches requests to routes with APISIX's radixtree semantics (reference §3):
// hosts, exact and prefix uris, parameters, priority, methods, remote addresses and vars.
package router

import (
	"net/netip"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
)

// Mode is apisix.router.http.
type Mode string

const (
	HostURI          Mode = "radixtree_host_uri" // default
	URI              Mode = "radixtree_uri"
	URIWithParameter Mode = "radixtree_uri_with_parameter"
)

// Route is one route as the router sees it. Hosts are the route's own hosts, or its service's
// when it has none.
type Route struct {
	ID          string
	URIs        []string
	Hosts       []string
	Methods     []string
	RemoteAddrs []netip.Prefix
	Vars        *expr.Expr
	Priority    int
	// Value is the caller's payload, returned by Match.
	Value any
}

// Options configure a router build.
type Options struct {
	Mode Mode
}

// Router is immutable once built; Match is safe for concurrent use.
type Router struct{}

// Build indexes the routes. A route whose uri cannot be indexed is skipped and reported in the
// returned map (route id → error); the rest are served.
func Build(routes []Route, o Options) (*Router, map[string]error) { return &Router{}, nil }

// Request is what matching reads from the request.
type Request struct {
	Path       []byte // normalized path, no query
	Host       []byte // without port, lower-case
	Method     []byte
	RemoteAddr netip.Addr
	Vars       plugin.Vars // for `vars` filters
}

// Params holds the captures (:name, *name) of a match; reuse one per request (Reset).
type Params struct {
	Names  []string
	Values [][]byte
}

// Reset empties p for reuse.
func (p *Params) Reset() { p.Names, p.Values = p.Names[:0], p.Values[:0] }

// Get returns the capture called name.
func (p *Params) Get(name string) ([]byte, bool) {
	for i, n := range p.Names {
		if n == name {
			return p.Values[i], true
		}
	}
	return nil, false
}

// Match returns the route for req, or nil. Captures are appended to params (may be nil).
func (r *Router) Match(req *Request, params *Params) *Route { return nil }
