// Package router matches requests to routes with APISIX's radixtree semantics (reference §3):
// hosts, exact and prefix uris, parameters, priority, methods, remote addresses and vars.
//
// Everything is indexed at Build; Match takes no lock and does not allocate. Order of
// evaluation, as lua-resty-radixtree: routes whose uri equals the path, then prefix buckets from
// the longest matching prefix to the shortest; inside a bucket by priority (high first), then
// longer original uri, then Build order. The first candidate whose methods, remote_addrs,
// hosts, `:param`/`*name` pattern and vars all pass wins.
//
// One deliberate difference: APISIX evaluates `vars` before it extracts the uri parameters, so
// `uri_param_*` is nil inside a route's own vars; Sluice extracts first and answers them.
package router

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

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
type Router struct {
	hosts *hostIndex // radixtree_host_uri: routes with hosts; nil when there are none
	uris  *uriIndex  // host-less routes (host_uri), or every route (the uri modes)
}

// hostIndex is radixtree_host_uri's outer router: one uri index per host pattern.
type hostIndex struct {
	exact map[string]*uriIndex // lower-case host
	wild  tree[*uriIndex]      // reversed suffix after '*' ("*.foo.com" → "moc.oof.")
}

// uriIndex is one radixtree over uris.
type uriIndex struct {
	exact map[string][]*entry
	tree  tree[[]*entry] // keyed by the uri up to its first '*' (or ':' with parameters)
}

// entry is one (route, uri) pair.
type entry struct {
	route      *Route
	uri        string
	pat        *pattern // nil: no parameters to check
	methods    uint16   // 0: any
	hosts      []hostPattern
	varsParams bool // vars read uri_param_*
	seq        int
}

// hostPattern is a host filter: exact, or a suffix after a leading '*'.
type hostPattern struct {
	wild bool
	host string
}

var methodBits = map[string]uint16{
	"GET": 1 << 0, "POST": 1 << 1, "PUT": 1 << 2, "DELETE": 1 << 3, "PATCH": 1 << 4,
	"HEAD": 1 << 5, "OPTIONS": 1 << 6, "CONNECT": 1 << 7, "TRACE": 1 << 8, "PURGE": 1 << 9,
}

// methodBit is the request method's bit, 0 for a method no route can list.
func methodBit(m []byte) uint16 {
	switch string(m) {
	case "GET":
		return 1 << 0
	case "POST":
		return 1 << 1
	case "PUT":
		return 1 << 2
	case "DELETE":
		return 1 << 3
	case "PATCH":
		return 1 << 4
	case "HEAD":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "CONNECT":
		return 1 << 7
	case "TRACE":
		return 1 << 8
	case "PURGE":
		return 1 << 9
	}
	return 0
}

// Build indexes the routes. A route whose uri cannot be indexed is skipped and reported in the
// returned map (route id → error); the rest are served.
func Build(routes []Route, o Options) (*Router, map[string]error) {
	mode := o.Mode
	if mode == "" {
		mode = HostURI
	}
	var errs map[string]error
	fail := func(id string, err error) {
		if errs == nil {
			errs = map[string]error{}
		}
		errs[id] = err
	}
	rs := slices.Clone(routes)
	r := &Router{uris: newURIIndex()}
	withParams := mode == URIWithParameter
	seq := 0
	for i := range rs {
		rt := &rs[i]
		methods, err := methodMask(rt.Methods)
		if err != nil {
			fail(rt.ID, err)
			continue
		}
		if len(rt.URIs) == 0 {
			fail(rt.ID, errors.New("route has no uri"))
			continue
		}
		hosts := hostPatterns(rt.Hosts)
		for _, uri := range rt.URIs {
			e := &entry{
				route:      rt,
				uri:        uri,
				methods:    methods,
				varsParams: rt.Vars.Uses(plugin.VarURIParam),
				seq:        seq,
			}
			seq++
			if mode != HostURI || len(hosts) == 0 {
				e.hosts = hosts
				r.uris.add(e, withParams)
				continue
			}
			for _, h := range uniqueHosts(hosts) {
				r.hostIndexFor(h).add(e, withParams)
			}
		}
	}
	r.uris.sort()
	if r.hosts != nil {
		for _, u := range r.hosts.exact {
			u.sort()
		}
		walk(&r.hosts.wild.root, func(u *uriIndex) { u.sort() })
	}
	return r, errs
}

func newURIIndex() *uriIndex { return &uriIndex{exact: map[string][]*entry{}} }

func methodMask(methods []string) (uint16, error) {
	var m uint16
	for _, name := range methods {
		bit, ok := methodBits[name]
		if !ok {
			return 0, fmt.Errorf("unknown method %q", name)
		}
		m |= bit
	}
	return m, nil
}

// hostPatterns lower-cases hosts and splits off a leading '*'.
func hostPatterns(hosts []string) []hostPattern {
	if len(hosts) == 0 {
		return nil
	}
	out := make([]hostPattern, 0, len(hosts))
	for _, h := range hosts {
		h = strings.ToLower(h)
		if rest, ok := strings.CutPrefix(h, "*"); ok {
			out = append(out, hostPattern{wild: true, host: rest})
		} else {
			out = append(out, hostPattern{host: h})
		}
	}
	return out
}

func uniqueHosts(hs []hostPattern) []hostPattern {
	out := hs[:0:0]
	for _, h := range hs {
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// hostIndexFor returns the uri index of one host pattern, creating it.
func (r *Router) hostIndexFor(h hostPattern) *uriIndex {
	if r.hosts == nil {
		r.hosts = &hostIndex{exact: map[string]*uriIndex{}}
	}
	if !h.wild {
		u := r.hosts.exact[h.host]
		if u == nil {
			u = newURIIndex()
			r.hosts.exact[h.host] = u
		}
		return u
	}
	n := r.hosts.wild.node(reverse(h.host))
	if !n.has {
		n.has, n.val = true, newURIIndex()
	}
	return n.val
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// add files e under its uri: exact, or in the prefix bucket of the text before the first
// '*' (or ':' when parameters are on), with a pattern when radixtree would run one.
func (u *uriIndex) add(e *entry, withParams bool) {
	uri := e.uri
	cut := -1
	if withParams {
		cut = strings.IndexByte(uri, ':')
	}
	if cut < 0 {
		cut = strings.IndexByte(uri, '*')
	}
	if cut < 0 {
		u.exact[uri] = append(u.exact[uri], e)
		return
	}
	// `/a/*` (star last) is a plain prefix; anything after the star, or a ':', needs the
	// pattern (and radixtree ignores it when it names nothing: `/a*b` is prefix `/a`).
	if cut != len(uri)-1 || uri[cut] == ':' {
		e.pat = compilePattern(uri)
	}
	n := u.tree.node(uri[:cut])
	n.has = true
	n.val = append(n.val, e)
}

// sort orders every bucket as radixtree's sort_route: priority desc, then longer uri, then
// Build order (a stable sort over entries added in Build order).
func (u *uriIndex) sort() {
	for _, es := range u.exact {
		sortEntries(es)
	}
	walk(&u.tree.root, sortEntries)
}

func sortEntries(es []*entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.route.Priority != b.route.Priority {
			return a.route.Priority > b.route.Priority
		}
		return len(a.uri) > len(b.uri)
	})
}

func walk[T any](n *tnode[T], fn func(T)) {
	if n.has {
		fn(n.val)
	}
	for _, c := range n.children {
		walk(c, fn)
	}
}

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
	// MatchedURI is the uri pattern of the route that matched (APISIX's $matched_uri).
	MatchedURI string

	view paramVars
}

// Reset empties p for reuse.
func (p *Params) Reset() { p.Names, p.Values, p.MatchedURI = p.Names[:0], p.Values[:0], "" }

// Get returns the capture called name (the last one when a uri repeats a name, as radixtree
// overwrites).
func (p *Params) Get(name string) ([]byte, bool) {
	for i := len(p.Names) - 1; i >= 0; i-- {
		if p.Names[i] == name {
			return p.Values[i], true
		}
	}
	return nil, false
}

// Vars returns base with `uri_param_<name>` answered from p. The result is valid until the
// next call of Vars on p.
func (p *Params) Vars(base plugin.Vars) plugin.Vars {
	p.view = paramVars{p: p, base: base}
	return &p.view
}

type paramVars struct {
	p    *Params
	base plugin.Vars
}

func (v *paramVars) Lookup(x *plugin.Var) ([]byte, bool) {
	if x.Kind == plugin.VarURIParam {
		return v.p.Get(x.Name)
	}
	if v.base == nil {
		return nil, false
	}
	return v.base.Lookup(x)
}

func (p *Params) len() int {
	if p == nil {
		return 0
	}
	return len(p.Names)
}

func (p *Params) truncate(n int) {
	if p != nil {
		p.Names, p.Values = p.Names[:n], p.Values[:n]
	}
}

// add records a capture; a bare `*` (no name) is not recorded.
func (p *Params) add(name string, v []byte) {
	if p != nil && name != "" {
		p.Names = append(p.Names, name)
		p.Values = append(p.Values, v)
	}
}

// matchState is what every candidate check of one Match reads.
type matchState struct {
	req    *Request
	host   []byte // lower-case
	method uint16
	addr   netip.Addr
	params *Params
}

// maxHost bounds the stack buffer a host is lower-cased and reversed into.
const maxHost = 256

// Match returns the route for req, or nil. Captures are appended to params (may be nil).
func (r *Router) Match(req *Request, params *Params) *Route {
	if r == nil {
		return nil
	}
	st := matchState{
		req:    req,
		host:   lowerHost(req.Host),
		method: methodBit(req.Method),
		addr:   req.RemoteAddr.Unmap(),
		params: params,
	}
	e := (*entry)(nil)
	if r.hosts != nil {
		e = r.hosts.match(&st)
	}
	if e == nil {
		e = r.uris.match(&st)
	}
	if e == nil {
		return nil
	}
	if params != nil {
		params.MatchedURI = e.uri
	}
	return e.route
}

// MatchedHost is the host pattern of rt that host matches ("*.example.com" for a wildcard),
// "" when rt has no hosts: APISIX's $matched_host.
func MatchedHost(rt *Route, host []byte) string {
	for _, h := range rt.Hosts {
		if h == string(host) {
			return h
		}
		if strings.HasPrefix(h, "*") && len(host) >= len(h)-1 && strings.EqualFold(string(host[len(host)-len(h)+1:]), h[1:]) {
			return h
		}
	}
	return ""
}

// lowerHost returns h lower-cased. Request.Host is documented lower-case, so only a caller
// that breaks the contract pays for a copy.
func lowerHost(h []byte) []byte {
	for _, c := range h {
		if c >= 'A' && c <= 'Z' {
			return bytes.ToLower(h)
		}
	}
	return h
}

// match tries the exact host, then wildcard hosts from the longest suffix to "*".
func (h *hostIndex) match(st *matchState) *entry {
	if u := h.exact[string(st.host)]; u != nil {
		if e := u.match(st); e != nil {
			return e
		}
	}
	var rbuf [maxHost]byte
	rev := rbuf[:0]
	if len(st.host) > maxHost {
		rev = make([]byte, 0, len(st.host))
	}
	for i := len(st.host) - 1; i >= 0; i-- {
		rev = append(rev, st.host[i])
	}
	var nbuf [16]*tnode[*uriIndex]
	nodes := h.wild.prefixes(rev, nbuf[:0])
	for i := len(nodes) - 1; i >= 0; i-- {
		if e := nodes[i].val.match(st); e != nil {
			return e
		}
	}
	return nil
}

// match tries the exact uri, then the prefix buckets from the longest.
func (u *uriIndex) match(st *matchState) *entry {
	path := st.req.Path
	for _, e := range u.exact[string(path)] {
		if e.try(st) {
			return e
		}
	}
	var nbuf [32]*tnode[[]*entry]
	nodes := u.tree.prefixes(path, nbuf[:0])
	for i := len(nodes) - 1; i >= 0; i-- {
		for _, e := range nodes[i].val {
			if e.try(st) {
				return e
			}
		}
	}
	return nil
}

// try runs a candidate's checks: methods, remote_addrs, hosts, uri pattern, vars.
func (e *entry) try(st *matchState) bool {
	rt := e.route
	if e.methods != 0 && e.methods&st.method == 0 {
		return false
	}
	if len(rt.RemoteAddrs) > 0 && !containsAddr(rt.RemoteAddrs, st.addr) {
		return false
	}
	if len(e.hosts) > 0 && !matchHosts(e.hosts, st.host) {
		return false
	}
	mark := st.params.len()
	if e.pat != nil && !e.pat.match(st.req.Path, st.params) {
		return false
	}
	if rt.Vars != nil {
		vars := st.req.Vars
		if e.varsParams {
			ps := st.params
			if ps == nil {
				// the caller wants no captures, but the vars read them
				ps = &Params{}
				if e.pat != nil {
					e.pat.match(st.req.Path, ps)
				}
			}
			vars = ps.Vars(st.req.Vars)
		}
		if !rt.Vars.Eval(vars) {
			st.params.truncate(mark)
			return false
		}
	}
	return true
}

func containsAddr(nets []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func matchHosts(hs []hostPattern, host []byte) bool {
	for _, h := range hs {
		if h.wild {
			if len(host) >= len(h.host) && string(host[len(host)-len(h.host):]) == h.host {
				return true
			}
		} else if string(host) == h.host {
			return true
		}
	}
	return false
}
