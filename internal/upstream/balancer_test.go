package upstream

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

var kinds = []string{"roundrobin", "chash", "least_conn", "ewma"}

func nd(host string, weight, priority int) model.Node {
	return model.Node{Host: host, Port: 80, Weight: weight, Priority: priority}
}

func mustNew(t testing.TB, kind string, nodes ...model.Node) *Upstream {
	t.Helper()
	u, err := New("/apisix/upstreams/1", &model.Upstream{Type: kind, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pickSeq picks n times, each as a new request that succeeds.
func pickSeq(u *Upstream, n int) string {
	var a Attempt
	var b strings.Builder
	for range n {
		a.Reset()
		node := u.Pick(&a)
		if node == nil {
			b.WriteByte('-')
			continue
		}
		b.WriteString(node.Host)
		a.Finish(0)
	}
	return b.String()
}

// triesSeq picks within one request until Pick gives up, as if every try failed.
func triesSeq(u *Upstream, a *Attempt) []string {
	var out []string
	for range 1000 {
		n := u.Pick(a)
		if n == nil {
			return out
		}
		out = append(out, n.Host)
	}
	panic("Pick never gave up")
}

func TestRoundRobinSmoothSequence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []model.Node
		want  string
	}{
		{"5-1-1", []model.Node{nd("a", 5, 0), nd("b", 1, 0), nd("c", 1, 0)}, "aabacaa" + "aabacaa"},
		{"scaled weights give the same sequence", []model.Node{nd("a", 50, 0), nd("b", 10, 0), nd("c", 10, 0)}, "aabacaa"},
		{"equal weights", []model.Node{nd("a", 1, 0), nd("b", 1, 0), nd("c", 1, 0)}, "abcabc"},
		{"weight 0 never picked", []model.Node{nd("a", 1, 0), nd("z", 0, 0), nd("c", 2, 0)}, "cacca" + "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := mustNew(t, "roundrobin", tc.nodes...)
			if got := pickSeq(u, len(tc.want)); got != tc.want {
				t.Fatalf("sequence %q, want %q", got, tc.want)
			}
		})
	}
}

// The locked SWRR (used when the period is too long to precompute) must produce nginx's
// sequence too.
func TestRoundRobinLockedMatchesSchedule(t *testing.T) {
	for _, weights := range [][]int{{5, 1, 1}, {3, 2}, {1, 1, 1, 1}, {7, 3, 1, 2}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			var nodes []model.Node
			for i, w := range weights {
				nodes = append(nodes, nd(string(rune('a'+i)), w, 0))
			}
			sched := mustNew(t, "roundrobin", nodes...)
			locked := mustNew(t, "roundrobin", nodes...)
			tr := locked.tiers[0]
			tr.sched, tr.cw = nil, make([]int64, len(tr.nodes))
			n := 3 * len(sched.tiers[0].sched)
			if a, b := pickSeq(sched, n), pickSeq(locked, n); a != b {
				t.Fatalf("schedule %q, locked %q", a, b)
			}
		})
	}
	// A period beyond maxSchedule falls back to the lock.
	u := mustNew(t, "roundrobin", nd("a", maxSchedule, 0), nd("b", 1, 0))
	if u.tiers[0].sched != nil {
		t.Fatal("expected no precomputed schedule")
	}
	if got := pickSeq(u, 3); got != "aaa" {
		t.Fatalf("got %q", got)
	}
}

func TestWeightZeroNeverPicked(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			u := mustNew(t, kind, nd("a", 1, 0), nd("z", 0, 0), nd("c", 3, 0))
			for i := range 500 {
				var a Attempt
				a.HashKey = fmt.Appendf(nil, "key-%d", i)
				tries := triesSeq(u, &a)
				if slices.Contains(tries, "z") || len(tries) != 2 {
					t.Fatalf("tries %v", tries)
				}
			}
		})
	}
}

func TestSingleNodeAlwaysPicked(t *testing.T) {
	// APISIX short-circuits a one-node upstream: its node even with weight 0, and again on
	// an explicit retry.
	u := mustNew(t, "roundrobin", nd("a", 0, 0))
	var a Attempt
	for range 3 {
		if n := u.Pick(&a); n == nil || n.Host != "a" {
			t.Fatalf("got %v", n)
		}
	}
	if empty := mustNew(t, "roundrobin"); empty.Pick(&a) != nil {
		t.Fatal("empty upstream picked a node")
	}
}

func TestRetriesPickAnotherNodeAndTiers(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			u := mustNew(t, kind,
				nd("l1", 1, -1), nd("h1", 2, 10), nd("m1", 1, 5), nd("h2", 1, 10), nd("m2", 3, 5))
			for i := range 200 {
				var a Attempt
				a.HashKey = fmt.Appendf(nil, "k%d", i)
				tries := triesSeq(u, &a)
				if len(tries) != 5 {
					t.Fatalf("tries %v: want every node once", tries)
				}
				tiers := make([]byte, len(tries))
				for j, h := range tries {
					tiers[j] = h[0]
				}
				if string(tiers) != "hhmml" {
					t.Fatalf("tries %v: tiers %s, want hhmml", tries, tiers)
				}
				if a.Tries() != 5 {
					t.Fatalf("Tries %d", a.Tries())
				}
			}
		})
	}
}

func TestAttemptManyNodes(t *testing.T) {
	var nodes []model.Node
	for i := range 150 {
		nodes = append(nodes, model.Node{Host: fmt.Sprintf("n%d", i), Port: 80, Weight: 1})
	}
	for _, kind := range kinds {
		u := mustNew(t, kind, nodes...)
		var a Attempt
		a.HashKey = []byte("x")
		tries := triesSeq(u, &a)
		slices.Sort(tries)
		if len(slices.Compact(tries)) != 150 {
			t.Fatalf("%s: %d distinct tries, want 150", kind, len(tries))
		}
	}
}

func chashOwner(u *Upstream, key string) string {
	var a Attempt
	a.HashKey = []byte(key)
	n := u.Pick(&a)
	a.Finish(0)
	return n.Host
}

func TestCHashStableAndConsistent(t *testing.T) {
	four := mustNew(t, "chash", nd("a", 1, 0), nd("b", 1, 0), nd("c", 1, 0), nd("d", 1, 0))
	three := mustNew(t, "chash", nd("a", 1, 0), nd("b", 1, 0), nd("c", 1, 0))
	again := mustNew(t, "chash", nd("a", 1, 0), nd("b", 1, 0), nd("c", 1, 0), nd("d", 1, 0))
	moved := 0
	for i := range 5000 {
		k := fmt.Sprintf("user-%d", i)
		o := chashOwner(four, k)
		if o2 := chashOwner(four, k); o2 != o {
			t.Fatalf("%s: %s then %s", k, o, o2)
		}
		if o2 := chashOwner(again, k); o2 != o {
			t.Fatalf("%s: %s, recompiled %s", k, o, o2)
		}
		o3 := chashOwner(three, k)
		if o != "d" && o3 != o {
			t.Fatalf("%s moved from %s to %s though %s stayed", k, o, o3, o)
		}
		if o == "d" {
			moved++
		}
	}
	if moved < 5000/4*7/10 || moved > 5000/4*13/10 {
		t.Fatalf("%d keys were on d, want about 1250", moved)
	}
}

func TestCHashDistribution(t *testing.T) {
	for _, tc := range []struct {
		weights []int
	}{{[]int{1, 1, 1}}, {[]int{3, 1}}, {[]int{1, 2, 5}}} {
		t.Run(fmt.Sprint(tc.weights), func(t *testing.T) {
			var nodes []model.Node
			total := 0
			for i, w := range tc.weights {
				nodes = append(nodes, model.Node{Host: fmt.Sprintf("10.0.0.%d", i+1), Port: 8080, Weight: w})
				total += w
			}
			u := mustNew(t, "chash", nodes...)
			const keys = 40000
			got := map[string]int{}
			for i := range keys {
				got[chashOwner(u, fmt.Sprintf("/api/item/%d?x=%d", i, i*7))]++
			}
			for i, w := range tc.weights {
				want := float64(keys) * float64(w) / float64(total)
				g := float64(got[nodes[i].Host])
				if g < want*0.85 || g > want*1.15 {
					t.Errorf("node %d (weight %d): %v keys, want about %v", i, w, g, want)
				}
			}
		})
	}
}

func TestLeastConn(t *testing.T) {
	u := mustNew(t, "least_conn", nd("a", 1, 0), nd("b", 2, 0), nd("c", 1, 0))
	held := make([]*Attempt, 0, 40)
	for range 40 {
		a := &Attempt{}
		n := u.Pick(a)
		// n had the lowest (active+1)/weight before it was picked.
		mine := float64(n.Active()) / float64(n.Weight)
		for _, o := range u.Nodes() {
			act := o.Active()
			if o == n {
				act--
			}
			if s := float64(act+1) / float64(o.Weight); s < mine {
				t.Fatalf("picked %s (score %v) though %s had %v", n.Host, mine, o.Host, s)
			}
		}
		held = append(held, a)
	}
	a, b, c := u.Nodes()[0].Active(), u.Nodes()[1].Active(), u.Nodes()[2].Active()
	if a+b+c != 40 || b < 19 || b > 21 || a < 9 || a > 11 {
		t.Fatalf("active a=%d b=%d c=%d, want about 10/20/10", a, b, c)
	}
	for _, h := range held {
		h.Finish(0)
	}
	for _, n := range u.Nodes() {
		if n.Active() != 0 {
			t.Fatalf("%s active %d after Finish", n.Host, n.Active())
		}
	}
	// Reset and retries settle the counts too.
	var r Attempt
	u.Pick(&r)
	u.Pick(&r)
	r.Reset()
	for _, n := range u.Nodes() {
		if n.Active() != 0 {
			t.Fatalf("%s active %d after Reset", n.Host, n.Active())
		}
	}
}

func TestEWMAPrefersFaster(t *testing.T) {
	u := mustNew(t, "ewma", nd("slow", 1, 0), nd("fast", 1, 0))
	for _, tc := range []struct {
		host string
		rtt  time.Duration
	}{{"slow", 200 * time.Millisecond}, {"fast", time.Millisecond}} {
		for _, n := range u.Nodes() {
			if n.Host == tc.host {
				var a Attempt
				a.up, a.cur = u, n
				n.active.Add(1)
				a.Finish(tc.rtt)
			}
		}
	}
	if got := pickSeq(u, 50); got != strings.Repeat("fast", 50) {
		t.Fatalf("picked %q", got)
	}
	// Retry after the fast node failed goes to the slow one.
	var a Attempt
	if tries := triesSeq(u, &a); !slices.Equal(tries, []string{"fast", "slow"}) {
		t.Fatalf("tries %v", tries)
	}
}

func TestRetriesAndTimeouts(t *testing.T) {
	ptr := func(i int) *int { return &i }
	three := model.Nodes{nd("a", 1, 0), nd("b", 1, 0), nd("c", 1, 0)}
	for _, tc := range []struct {
		name    string
		spec    model.Upstream
		retries int
	}{
		{"unset: nodes-1", model.Upstream{Nodes: three}, 2},
		{"zero disables", model.Upstream{Nodes: three, Retries: ptr(0)}, 0},
		{"explicit", model.Upstream{Nodes: three, Retries: ptr(5)}, 5},
		{"no nodes", model.Upstream{}, 0},
	} {
		u, err := New("k", &tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if u.Retries() != tc.retries {
			t.Errorf("%s: Retries %d, want %d", tc.name, u.Retries(), tc.retries)
		}
	}

	s := time.Second
	for _, tc := range []struct {
		name     string
		upstream *model.Timeout
		route    *model.Timeout
		want     Timeouts
	}{
		{"defaults", nil, nil, Timeouts{60 * s, 60 * s, 60 * s}},
		{"upstream", &model.Timeout{Connect: 1, Send: 2, Read: 3.5}, nil, Timeouts{s, 2 * s, 3500 * time.Millisecond}},
		{"route wins", &model.Timeout{Connect: 1, Send: 2, Read: 3}, &model.Timeout{Connect: 4, Send: 5, Read: 6}, Timeouts{4 * s, 5 * s, 6 * s}},
		{"route replaces the whole object", &model.Timeout{Connect: 1, Send: 2, Read: 3}, &model.Timeout{Read: 6}, Timeouts{60 * s, 60 * s, 6 * s}},
	} {
		u, err := New("k", &model.Upstream{Timeout: tc.upstream, RetryTimeout: 1.5})
		if err != nil {
			t.Fatal(err)
		}
		if got := u.Timeouts(tc.route); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if u.RetryTimeout() != 1500*time.Millisecond {
			t.Errorf("RetryTimeout %v", u.RetryTimeout())
		}
	}
}

func TestNodeAddressing(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		node   model.Node
		addr   string
		host   string // pass_host node
	}{
		{"", model.Node{Host: "example.com"}, "example.com:80", "example.com"},
		{"http", model.Node{Host: "example.com", Port: 8080}, "example.com:8080", "example.com:8080"},
		{"https", model.Node{Host: "example.com"}, "example.com:443", "example.com"},
		{"https", model.Node{Host: "example.com", Port: 80}, "example.com:80", "example.com:80"},
		{"grpc", model.Node{Host: "10.0.0.1"}, "10.0.0.1:80", "10.0.0.1"},
		{"grpcs", model.Node{Host: "10.0.0.1"}, "10.0.0.1:443", "10.0.0.1"},
		{"http", model.Node{Host: "[::1]", Port: 81}, "[::1]:81", "[::1]:81"},
		{"http", model.Node{Host: "::1"}, "[::1]:80", "[::1]"},
	} {
		u, err := New("k", &model.Upstream{Scheme: tc.scheme, Nodes: model.Nodes{tc.node}})
		if err != nil {
			t.Fatal(err)
		}
		n := u.Nodes()[0]
		if n.Addr != tc.addr || n.UpstreamHost != tc.host {
			t.Errorf("%s %+v: addr %q host %q, want %q %q", tc.scheme, tc.node, n.Addr, n.UpstreamHost, tc.addr, tc.host)
		}
	}
	for _, bad := range []model.Upstream{{Type: "maglev"}, {Scheme: "kafka"}} {
		if _, err := New("k", &bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
