// Package upstream owns what sits behind a route: the balancer that picks a node, node state,
// and each node's pool of keep-alive connections with the HTTP/1.1 round trip on it.
//
// The request path uses it like this (one goroutine per request, nothing shared but atomics
// and per-node pool locks):
//
//	a := attempts.Get().(*upstream.Attempt) // caller-owned, Reset per request
//	a.HashKey = key                          // chash only
//	for try := 0; try <= u.Retries(); try++ {
//		n := u.Pick(a)                        // nil: no node left (503 on the first try)
//		c, err := n.AcquireSNI(ctx, t, sni)   // or Acquire for plain http
//		err = upstream.RoundTrip(c, req, resp)
//		...                                   // CanRetry(err, ...) decides the next try
//	}
//	a.Finish(rtt); a.Reset()
package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/vartemplate"
)

// Upstream is a compiled upstream: balancer plus nodes with their pools. It is shared by every
// snapshot in which its definition is unchanged, so pools and balancer state survive reloads.
type Upstream struct {
	Key  string // etcd key of the upstream, or "<route key>#upstream" for an inline one
	Spec *model.Upstream

	kind    balancerKind
	nodes   []*Node // in spec order; Node.idx indexes this slice
	tiers   []*tier // by priority, highest first
	scheme  string  // http, https, grpc, grpcs
	retries int
	retryTO time.Duration
	timeout Timeouts // the upstream's own timeouts, defaults filled in
	pool    poolConfig
	tlsConf *tls.Config                                              // nil for plain schemes
	dial    func(ctx context.Context, addr string) (net.Conn, error) // Options.Dial
	closed  atomic.Bool
	h2      atomic.Pointer[h2Transport] // grpc/grpcs client, created on first use (h2transport.go)

	// disc: the nodes come from service discovery (discovery.go); nil otherwise.
	disc *discovered
	// hash is a chash upstream's key (hashkey.go).
	hash *vartemplate.Template

	// Health checks (health.go): nil without `checks`; the checker starts with the first Pick.
	checks     *checksSpec
	checkOnce  sync.Once
	checking   atomic.Bool
	stopChecks context.CancelFunc
}

// Node is one upstream node with its connection pool.
type Node struct {
	Host     string // without IPv6 brackets
	Port     int    // the scheme's default port when the spec said 0
	Addr     string // "host:port" as dialled ("[::1]:80" for IPv6)
	Weight   int
	Priority int
	// UpstreamHost is the Host header for pass_host "node": the host, plus ":port" when the
	// port is not the scheme's standard one (APISIX parse_server_for_upstream_host).
	UpstreamHost string

	up     *Upstream
	idx    int
	active atomic.Int64 // tries picked and not yet finished (least_conn)
	ewma   ewmaState
	pool   pool
	down   atomic.Bool // the health checks found it unhealthy (Pick skips it)
	health nodeHealth
}

// Options are compile inputs that do not live in the spec itself.
type Options struct {
	// ClientCert is the certificate for upstream mTLS when the spec names it by
	// tls.client_cert_id (the snapshot compiler resolves the ssl object). It overrides
	// tls.client_cert/client_key.
	ClientCert *tls.Certificate
	// Dial, when set, replaces the TCP dial to a node: in-memory benchmarks use it to take
	// the kernel out of a measurement. The snapshot compiler never sets it.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Pool is the keepalive pool when the spec has no keepalive_pool.
	Pool PoolDefaults
	// Discovery are the registries by discovery_type (config.yaml `discovery:`).
	Discovery map[string]Resolver
}

// New compiles spec. When prev is the previous compile of the same key with an identical
// spec, callers should keep prev instead of calling New.
func New(key string, spec *model.Upstream) (*Upstream, error) {
	return NewWithOptions(key, spec, Options{})
}

// NewWithOptions is New with inputs resolved outside the spec.
func NewWithOptions(key string, spec *model.Upstream, opt Options) (*Upstream, error) {
	if spec == nil {
		return nil, fmt.Errorf("upstream %s: no spec", key)
	}
	u := &Upstream{Key: key, Spec: spec, dial: opt.Dial}
	var err error
	if u.kind, err = parseKind(spec.Type); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", key, err)
	}
	if u.kind == kindCHash {
		if u.hash, err = compileHashKey(spec); err != nil {
			return nil, fmt.Errorf("upstream %s: %w", key, err)
		}
	}
	u.scheme = spec.Scheme
	if u.scheme == "" {
		u.scheme = "http"
	}
	std, ok := schemePort[u.scheme]
	if !ok {
		return nil, fmt.Errorf("upstream %s: scheme %q is not supported", key, u.scheme)
	}

	u.nodes = make([]*Node, len(spec.Nodes))
	for i, sn := range spec.Nodes {
		host := strings.TrimSuffix(strings.TrimPrefix(sn.Host, "["), "]")
		port := sn.Port
		if port == 0 {
			port = std
		}
		n := &Node{
			Host: host, Port: port, Weight: sn.Weight, Priority: sn.Priority,
			Addr: net.JoinHostPort(host, strconv.Itoa(port)),
			up:   u, idx: i,
		}
		n.UpstreamHost = host
		if strings.IndexByte(host, ':') >= 0 {
			n.UpstreamHost = "[" + host + "]"
		}
		if port != std {
			n.UpstreamHost += ":" + strconv.Itoa(port)
		}
		n.pool.node = n
		u.nodes[i] = n
	}
	u.tiers = buildTiers(u.kind, u.nodes)

	u.retries = len(spec.Nodes) - 1
	if spec.Retries != nil && *spec.Retries >= 0 {
		u.retries = *spec.Retries
	}
	if u.retries < 0 {
		u.retries = 0
	}
	u.retryTO = seconds(spec.RetryTimeout)
	u.timeout = fillTimeouts(spec.Timeout, Timeouts{DefaultTimeout, DefaultTimeout, DefaultTimeout})
	u.pool = newPoolConfig(spec.KeepalivePool, opt.Pool)
	if spec.ServiceName != "" && spec.DiscoveryType != "" {
		r := opt.Discovery[spec.DiscoveryType]
		if r == nil {
			r = unconfigured(spec.DiscoveryType)
		}
		u.disc = &discovered{resolver: r, name: spec.ServiceName, args: spec.DiscoveryArgs, opt: opt}
		return u, nil // the upstreams compiled with the nodes found carry the rest
	}
	if u.checks, err = parseChecks(spec.Checks); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", key, err)
	}

	if u.scheme == "https" || u.scheme == "grpcs" || u.scheme == "tls" {
		if u.tlsConf, err = clientTLS(spec.TLS, opt.ClientCert); err != nil {
			return nil, fmt.Errorf("upstream %s: tls: %w", key, err)
		}
	}
	return u, nil
}

// schemePort is the standard port of each scheme (APISIX upstream.scheme_to_port); the L4
// schemes of stream routes have none, their nodes name a port.
var schemePort = map[string]int{"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "tcp": 0, "udp": 0, "tls": 0}

// Nodes returns the compiled nodes in spec order. Callers must not modify them.
func (u *Upstream) Nodes() []*Node { return u.nodes }

// TLSConfig is the client TLS configuration of an https, grpcs or tls upstream (nil for the
// plain schemes); callers Clone it before setting a server name.
func (u *Upstream) TLSConfig() *tls.Config { return u.tlsConf }

// Scheme is the upstream scheme with the default filled in.
func (u *Upstream) Scheme() string { return u.scheme }

// Retries is how many further tries a failed request gets: spec.retries, or #nodes-1 when
// unset (APISIX); 0 disables retries.
func (u *Upstream) Retries() int { return u.retries }

// RetryTimeout bounds the time spent retrying; 0 means no bound (past it APISIX answers 502).
func (u *Upstream) RetryTimeout() time.Duration { return u.retryTO }

// Close releases idle connections; in-flight requests finish on theirs, and connections
// released afterwards are closed rather than pooled.
func (u *Upstream) Close() {
	if u.closed.Swap(true) {
		return
	}
	if u.disc != nil {
		u.disc.mu.Lock() // no resolution installs an upstream after this
		if cur := u.disc.cur.Load(); cur != nil {
			cur.Close()
		}
		u.disc.mu.Unlock()
	}
	u.checkOnce.Do(func() {}) // a checker not started by now never starts
	if u.stopChecks != nil {
		u.stopChecks()
	}
	for _, n := range u.nodes {
		n.pool.closeIdle()
	}
	u.closeH2()
}

// Timeouts are nginx-style: Connect bounds the dial, Send and Read bound the gap between
// successive writes and reads (not the whole exchange).
type Timeouts struct {
	Connect, Send, Read time.Duration
}

// DefaultTimeout is nginx's proxy_{connect,send,read}_timeout default.
const DefaultTimeout = 60 * time.Second

// Timeouts returns the timeouts of a request on a route: the route's timeout object replaces
// the upstream's (APISIX set_balancer_opts); an absent or zero field is 60 s.
func (u *Upstream) Timeouts(route *model.Timeout) Timeouts {
	if route != nil {
		return fillTimeouts(route, Timeouts{DefaultTimeout, DefaultTimeout, DefaultTimeout})
	}
	return u.timeout
}

func fillTimeouts(t *model.Timeout, def Timeouts) Timeouts {
	if t == nil {
		return def
	}
	out := def
	if t.Connect > 0 {
		out.Connect = seconds(t.Connect)
	}
	if t.Send > 0 {
		out.Send = seconds(t.Send)
	}
	if t.Read > 0 {
		out.Read = seconds(t.Read)
	}
	return out
}

func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Active is the number of tries on n that were picked and not yet finished.
func (n *Node) Active() int { return int(n.active.Load()) }
