package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// Service discovery (APISIX upstream `service_name` + `discovery_type`): the nodes come from a
// registry instead of the spec. The compiled upstream is then a shell whose Current is an
// upstream compiled with the nodes last found; a change of nodes compiles a new one (fresh
// pools and balancer, as APISIX creates a new upstream version) and closes the old.

// Resolver finds a service's nodes in a registry (discovery.<type> in config.yaml). ttl is how
// long the answer may be reused.
type Resolver interface {
	Nodes(serviceName string, args []byte) (nodes []model.Node, ttl time.Duration, err error)
}

// discovered is a discovery upstream's state.
type discovered struct {
	resolver Resolver
	name     string
	args     []byte
	opt      Options

	cur        atomic.Pointer[Upstream] // nil until the first answer with nodes
	expires    atomic.Int64             // monoNow until which the last answer (or failure) holds
	refreshing atomic.Bool
	lookup     sync.Mutex // one registry question at a time
	mu         sync.Mutex // installing a new upstream, and Close
	err        atomic.Pointer[string]

	firstMu  sync.Mutex
	inflight chan struct{} // the first resolution under way, closed when it ends
}

// ErrNoInstances is a Resolver's authoritative "the service has no instance" (a Service
// scaled to zero, or deleted): the upstream then has no node (503) instead of keeping the
// nodes found last, which a registry that reuses addresses may have given to another service.
var ErrNoInstances = errors.New("the registry lists no instance of the service")

// firstWait bounds how long a request waits for a registry that has not answered yet: a
// registry down or slow costs 503s, not requests held for its timeouts.
const firstWait = time.Second

// minDiscoveryTTL bounds how often a registry is asked: a TTL of 0 must not mean every request.
const minDiscoveryTTL = time.Second

// Current is the upstream to send a request to: u itself, or for a discovery upstream the one
// compiled with the nodes last found. Those are refreshed when their TTL ran out, in the
// background while an answer is at hand; the first request waits for the registry. With no
// nodes (yet) it is an upstream without nodes, which the proxy answers with 503.
func (u *Upstream) Current() *Upstream {
	d := u.disc
	if d == nil {
		return u
	}
	cur := d.cur.Load()
	fresh := monoNow() < d.expires.Load()
	switch {
	case cur != nil && fresh:
		return cur
	case cur == nil && fresh:
		return u // the registry failed less than minDiscoveryTTL ago: 503 at once
	case cur != nil:
		if d.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer d.refreshing.Store(false)
				u.resolve()
			}()
		}
		return cur
	}
	// no nodes yet: one resolution in the background, waited for up to firstWait
	t := time.NewTimer(firstWait)
	select {
	case <-u.startResolve():
	case <-t.C:
	}
	t.Stop()
	if cur = d.cur.Load(); cur != nil {
		return cur
	}
	return u // no nodes: 503
}

// startResolve starts a resolution unless one is under way, and returns its end.
func (u *Upstream) startResolve() <-chan struct{} {
	d := u.disc
	d.firstMu.Lock()
	defer d.firstMu.Unlock()
	if d.inflight == nil {
		ch := make(chan struct{})
		d.inflight = ch
		go func() {
			u.resolve()
			d.firstMu.Lock()
			close(ch)
			d.inflight = nil
			d.firstMu.Unlock()
		}()
	}
	return d.inflight
}

// resolve asks the registry and installs a new upstream when the nodes changed.
func (u *Upstream) resolve() {
	d := u.disc
	d.lookup.Lock()
	defer d.lookup.Unlock()
	if u.closed.Load() || monoNow() < d.expires.Load() {
		return // closed, or another request asked meanwhile
	}
	cur := d.cur.Load()
	nodes, ttl, err := d.resolver.Nodes(d.name, d.args)
	switch {
	case errors.Is(err, ErrNoInstances):
		nodes, err = nil, nil // the registry says none: 503 until it lists some
	case err == nil && len(nodes) == 0:
		err = fmt.Errorf("no valid upstream node")
	}
	ttl = max(ttl, minDiscoveryTTL)
	if err != nil {
		u.discoveryFailed(err)
		return
	}
	d.err.Store(nil)
	// registries rotate their answers: the same nodes in another order are no change
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, compareNodes)
	if cur != nil && slices.EqualFunc(cur.Spec.Nodes, nodes, sameNode) {
		d.expires.Store(monoNow() + int64(ttl))
		return
	}
	spec := *u.Spec
	spec.Nodes = nodes
	spec.ServiceName, spec.DiscoveryType = "", ""
	next, err := NewWithOptions(u.Key, &spec, d.opt)
	if err != nil {
		u.discoveryFailed(err)
		return
	}
	d.mu.Lock()
	if u.closed.Load() {
		d.mu.Unlock()
		next.Close()
		return
	}
	d.cur.Store(next)
	d.mu.Unlock()
	d.expires.Store(monoNow() + int64(ttl))
	if cur != nil {
		cur.Close() // requests under way finish on their connections
	}
}

// discoveryFailed records why an answer was not used (logged when the reason changes): the
// nodes found last keep serving, and the registry is asked again after minDiscoveryTTL.
func (u *Upstream) discoveryFailed(err error) {
	d := u.disc
	msg := fmt.Sprintf("discovery %s %q: %v", u.Spec.DiscoveryType, d.name, err)
	if p := d.err.Load(); p == nil || *p != msg {
		slog.Warn("service discovery failed: the last nodes keep serving (none: 503)", "upstream", u.Key, "error", msg)
	}
	d.err.Store(&msg)
	d.expires.Store(monoNow() + int64(minDiscoveryTTL))
}

// DiscoveryError is why the last registry answer was not used, "" when it was (or there is no
// discovery); resolve logs it whenever it changes.
func (u *Upstream) DiscoveryError() string {
	if u.disc == nil {
		return ""
	}
	if p := u.disc.err.Load(); p != nil {
		return *p
	}
	return ""
}

// unconfigured is the resolver of a discovery_type config.yaml does not set up: every request
// to it is answered 503, as in APISIX.
type unconfigured string

func (t unconfigured) Nodes(string, []byte) ([]model.Node, time.Duration, error) {
	return nil, 0, fmt.Errorf("discovery %s is not configured (config.yaml discovery.%s)", string(t), string(t))
}

func sameNode(a, b model.Node) bool {
	return a.Host == b.Host && a.Port == b.Port && a.Weight == b.Weight && a.Priority == b.Priority
}

func compareNodes(a, b model.Node) int {
	switch {
	case a.Host != b.Host:
		return strings.Compare(a.Host, b.Host)
	case a.Port != b.Port:
		return a.Port - b.Port
	case a.Priority != b.Priority:
		return a.Priority - b.Priority
	}
	return a.Weight - b.Weight
}
