package upstream

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

func TestParseChecksDefaults(t *testing.T) {
	c, err := parseChecks(json.RawMessage(`{"active":{"http_path":"/status","healthy":{"successes":3}},"passive":{"unhealthy":{"http_failures":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a, p := c.Active, c.Passive
	if a.Type != "http" || a.Timeout != 1 || a.HTTPPath != "/status" || a.Healthy.Interval != 1 || a.Healthy.Successes != 3 ||
		len(a.Healthy.HTTPStatuses) != 2 || a.Unhealthy.HTTPFailures != 5 || a.Unhealthy.TCPFailures != 2 || a.Unhealthy.Timeouts != 3 {
		t.Errorf("active: %+v", a)
	}
	if p == nil || p.Unhealthy.HTTPFailures != 2 || p.Unhealthy.TCPFailures != 2 || p.Unhealthy.Timeouts != 7 || p.Healthy.Successes != 5 {
		t.Errorf("passive: %+v", p)
	}
	if c, err := parseChecks(nil); c != nil || err != nil {
		t.Errorf("no checks: %v, %v", c, err)
	}
	if _, err := parseChecks(json.RawMessage(`{"active":{"timeout":"soon"}}`)); err == nil {
		t.Error("bad active: no error")
	}
}

// A node turns unhealthy after the failures of one kind in a row and healthy again after the
// successes; a success clears the failure counters, a failure the success counter.
func TestHealthCounters(t *testing.T) {
	u := mustUpstream(t, `{"nodes":{"127.0.0.1:1":1},"checks":{"active":{}}}`)
	n := u.nodes[0]
	th := thresholds{successes: 2, httpFailures: 3, tcpFailures: 2, timeouts: 3}
	status := func() string { return n.healthView().Status }
	n.record(outHTTPFailure, th)
	n.record(outHTTPFailure, th)
	if status() != "mostly_healthy" || n.down.Load() {
		t.Fatalf("two http failures: %s", status())
	}
	n.record(outSuccess, th) // clears them
	n.record(outHTTPFailure, th)
	n.record(outHTTPFailure, th)
	if n.down.Load() {
		t.Fatal("a success did not clear the http failures")
	}
	n.record(outTCPFailure, th)
	n.record(outTCPFailure, th)
	if !n.down.Load() || status() != "unhealthy" {
		t.Fatalf("two tcp failures: %s", status())
	}
	n.record(outSuccess, th)
	if status() != "mostly_unhealthy" || !n.down.Load() {
		t.Fatalf("one success: %s", status())
	}
	n.record(outTimeout, th) // clears the success
	n.record(outSuccess, th)
	if !n.down.Load() {
		t.Fatal("a failure did not clear the success counter")
	}
	n.record(outSuccess, th)
	if n.down.Load() || status() != "healthy" {
		t.Fatalf("two successes: %s", status())
	}
	n.record(outNone, th)
	if status() != "healthy" {
		t.Fatalf("a status in neither list: %s", status())
	}
}

// Pick skips unhealthy nodes, also on retries (the healthy ones are the candidates, as in
// APISIX), and picks among all when none is healthy.
func TestPickSkipsUnhealthy(t *testing.T) {
	u := mustUpstream(t, `{"nodes":{"127.0.0.1:1":1,"127.0.0.1:2":1,"127.0.0.1:3":1},"checks":{"active":{}}}`)
	defer u.Close()
	u.nodes[0].down.Store(true)
	var a Attempt
	for i := 0; i < 30; i++ {
		u.tiers[0].next.Store(uint64(i % 3)) // every start of the roundrobin sequence
		a.Reset()
		if n := u.Pick(&a); n == u.nodes[0] {
			t.Fatalf("pick %d: the unhealthy node", i)
		}
		if n := u.Pick(&a); n == nil || n == u.nodes[0] {
			t.Fatalf("retry: %v, want the other healthy node", n)
		}
		if n := u.Pick(&a); n != nil {
			t.Fatalf("third try: %v; want none (APISIX balances over the healthy nodes only)", n.Addr)
		}
	}
	for _, n := range u.nodes {
		n.down.Store(true)
	}
	seen := map[*Node]bool{}
	for i := 0; i < 30; i++ {
		a.Reset()
		seen[u.Pick(&a)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("all unhealthy: picked %d distinct nodes, want all 3", len(seen))
	}
}

// The active checker starts with the first Pick, marks a node whose check answers 500
// unhealthy and brings it back once it answers 200; Close stops it.
func TestActiveHealthCheck(t *testing.T) {
	var bad atomic.Bool
	bad.Store(true)
	var probes atomic.Int64
	mk := func(flaky bool) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/status" || r.Host != "checks.example" {
				t.Errorf("probe %s with Host %q", r.URL.Path, r.Host)
			}
			probes.Add(1)
			if flaky && bad.Load() {
				w.WriteHeader(500)
			}
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	good, flaky := mk(false), mk(true)
	u := mustUpstream(t, `{"nodes":{"`+good+`":1,"`+flaky+`":1},"checks":{"active":{"http_path":"/status","host":"checks.example",`+
		`"healthy":{"interval":1,"successes":1},"unhealthy":{"interval":1,"http_failures":1}}}}`)
	if _, ok := u.Health(); ok {
		t.Fatal("a checker before the first request")
	}
	var a Attempt
	u.Pick(&a)
	flakyNode := u.nodes[0]
	if flakyNode.Addr != flaky {
		flakyNode = u.nodes[1]
	}
	waitUntil(t, func() bool { return flakyNode.down.Load() })
	h, ok := u.Health()
	if !ok || len(h.Nodes) != 2 {
		t.Fatalf("Health: %+v, %v", h, ok)
	}
	for i := 0; i < 20; i++ {
		a.Reset()
		if u.Pick(&a) == flakyNode {
			t.Fatal("picked the node whose check fails")
		}
	}
	bad.Store(false)
	waitUntil(t, func() bool { return !flakyNode.down.Load() })
	u.Close()
	time.Sleep(200 * time.Millisecond) // a probe under way ends
	after := probes.Load()
	time.Sleep(1500 * time.Millisecond)
	if probes.Load() != after {
		t.Fatal("probes after Close")
	}
}

// Passive checks count proxied answers: unhealthy after http_failures 500s, healthy again
// after successes; a connect failure counts as a tcp failure.
func TestPassiveHealthCheck(t *testing.T) {
	u := mustUpstream(t, `{"nodes":{"127.0.0.1:1":1},"checks":{"active":{"healthy":{"interval":60},"unhealthy":{"interval":60}},`+
		`"passive":{"healthy":{"successes":2},"unhealthy":{"http_failures":2,"tcp_failures":1}}}}`)
	defer u.Close()
	n := u.nodes[0]
	n.ReportPassive(500, nil)
	n.ReportPassive(404, nil) // in neither list: nothing
	if n.down.Load() {
		t.Fatal("one 500")
	}
	n.ReportPassive(500, nil)
	if !n.down.Load() {
		t.Fatal("two 500s: still healthy")
	}
	n.ReportPassive(200, nil)
	n.ReportPassive(204, nil)
	if n.down.Load() {
		t.Fatal("two successes: still unhealthy")
	}
	n.ReportPassive(0, &Error{Phase: PhaseConnect, Err: net.ErrClosed})
	if !n.down.Load() {
		t.Fatal("a connect failure with tcp_failures 1: still healthy")
	}
	// without passive, reports change nothing
	u2 := mustUpstream(t, `{"nodes":{"127.0.0.1:1":1},"checks":{"active":{}}}`)
	for i := 0; i < 10; i++ {
		u2.nodes[0].ReportPassive(500, nil)
	}
	if u2.nodes[0].down.Load() {
		t.Fatal("passive reports counted without checks.passive")
	}
}

func mustUpstream(t *testing.T, spec string) *Upstream {
	t.Helper()
	var m model.Upstream
	if err := json.Unmarshal([]byte(spec), &m); err != nil {
		t.Fatal(err)
	}
	u, err := New("/apisix/upstreams/"+strconv.Itoa(len(spec)), &m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
