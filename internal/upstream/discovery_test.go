package upstream

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// fakeRegistry answers with the nodes set last, counting the questions.
type fakeRegistry struct {
	mu    sync.Mutex
	nodes []model.Node
	err   error
	ttl   time.Duration
	asked int
}

func (f *fakeRegistry) Nodes(name string, _ []byte) ([]model.Node, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	return f.nodes, f.ttl, f.err
}

func (f *fakeRegistry) set(nodes []model.Node, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes, f.err = nodes, err
}

func discoveryUpstream(t *testing.T, reg Resolver, typ string) *Upstream {
	t.Helper()
	var spec model.Upstream
	json.Unmarshal([]byte(`{"type":"roundrobin","service_name":"svc.test:80","discovery_type":"dns"}`), &spec)
	spec.DiscoveryType = typ
	u, err := NewWithOptions("/apisix/upstreams/d", &spec, Options{Discovery: map[string]Resolver{"dns": reg}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

// Current is compiled with the registry's nodes, reused within the TTL, recompiled when the
// nodes change (the old one closed) and kept when the registry fails.
func TestDiscoveryCurrent(t *testing.T) {
	reg := &fakeRegistry{ttl: time.Hour, nodes: []model.Node{{Host: "127.0.0.1", Port: 1980, Weight: 1}}}
	u := discoveryUpstream(t, reg, "dns")
	first := u.Current()
	if first == u || len(first.Nodes()) != 1 || first.Nodes()[0].Addr != "127.0.0.1:1980" {
		t.Fatalf("first: %+v", first.Nodes())
	}
	if u.Current() != first || reg.asked != 1 {
		t.Fatalf("within the TTL: asked %d times, same upstream %v", reg.asked, u.Current() == first)
	}
	// the TTL ran out: the next request is served from the old answer while a refresh runs
	u.disc.expires.Store(0)
	reg.set([]model.Node{{Host: "127.0.0.1", Port: 1981, Weight: 1}, {Host: "127.0.0.1", Port: 1982, Weight: 1}}, nil)
	if got := u.Current(); got != first {
		t.Fatal("an expired answer was not served while refreshing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for u.Current() == first {
		if time.Now().After(deadline) {
			t.Fatal("the new nodes never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(u.Current().Nodes()); n != 2 || !first.closed.Load() {
		t.Fatalf("after the change: %d nodes, old closed %v", n, first.closed.Load())
	}
	// the same nodes in another order (DNS rotates them) keep the compiled upstream
	same := u.Current()
	u.disc.expires.Store(0)
	reg.set([]model.Node{{Host: "127.0.0.1", Port: 1982, Weight: 1}, {Host: "127.0.0.1", Port: 1981, Weight: 1}}, nil)
	u.resolve()
	if u.Current() != same {
		t.Fatal("a reordered answer rebuilt the upstream")
	}
	// a failing registry: the last nodes keep serving, the error is visible
	second := u.Current()
	u.disc.expires.Store(0)
	reg.set(nil, errors.New("SERVFAIL"))
	u.resolve()
	if u.Current() != second || u.DiscoveryError() == "" {
		t.Fatalf("registry failure: replaced %v, error %q", u.Current() != second, u.DiscoveryError())
	}
	u.Close()
	if !second.closed.Load() {
		t.Fatal("Close left the discovered upstream open")
	}
}

// No nodes ever: Current is the shell without nodes (503); an unconfigured type too.
func TestDiscoveryWithoutNodes(t *testing.T) {
	reg := &fakeRegistry{err: errors.New("NXDOMAIN")}
	u := discoveryUpstream(t, reg, "dns")
	if got := u.Current(); len(got.Nodes()) != 0 {
		t.Fatalf("nodes without an answer: %v", got.Nodes())
	}
	// the failure is remembered: the next requests answer at once without asking again
	for i := 0; i < 10; i++ {
		u.Current()
	}
	if reg.asked != 1 {
		t.Fatalf("registry asked %d times within the failure TTL, want 1", reg.asked)
	}
	u2 := discoveryUpstream(t, reg, "consul")
	if got := u2.Current(); len(got.Nodes()) != 0 || u2.DiscoveryError() == "" {
		t.Fatalf("unconfigured type: %v, %q", got.Nodes(), u2.DiscoveryError())
	}
}

// slowRegistry answers after delay.
type slowRegistry struct{ delay time.Duration }

func (s slowRegistry) Nodes(string, []byte) ([]model.Node, time.Duration, error) {
	time.Sleep(s.delay)
	return []model.Node{{Host: "127.0.0.1", Port: 1980, Weight: 1}}, time.Hour, nil
}

// A registry slower than firstWait: the first requests get the 503 shell after firstWait, not
// after the registry's answer; once it answered, requests get its nodes.
func TestDiscoverySlowRegistry(t *testing.T) {
	u := discoveryUpstream(t, slowRegistry{delay: 2500 * time.Millisecond}, "dns")
	start := time.Now()
	if got := u.Current(); got != u {
		t.Fatal("nodes before the registry answered")
	}
	if waited := time.Since(start); waited > firstWait+500*time.Millisecond {
		t.Fatalf("the first request waited %v for a slow registry, want about %v", waited, firstWait)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(u.Current().Nodes()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow answer was never installed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
