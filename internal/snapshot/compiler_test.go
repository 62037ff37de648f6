package snapshot

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/etcd"
	"github.com/sluicegw/sluice/internal/store/etcd/etcdtest"
)

// pausableStore is the real etcd store whose watch the test can cut and resume from the last
// delivered revision, so that a compaction in between makes the store re-list and deliver a
// real EventReset.
type pausableStore struct {
	*etcd.Store
	mu      sync.Mutex
	restart chan struct{}
	paused  chan struct{}
}

func (p *pausableStore) Watch(ctx context.Context, prefix string, rev int64) <-chan store.Event {
	out := make(chan store.Event)
	go func() {
		defer close(out)
		next := rev
		for ctx.Err() == nil {
			wctx, cancel := context.WithCancel(ctx)
			in := p.Store.Watch(wctx, prefix, next)
			p.mu.Lock()
			restart := p.restart
			p.mu.Unlock()
		stream:
			for {
				select {
				case ev, ok := <-in:
					if !ok {
						break stream
					}
					select {
					case out <- ev:
						next = ev.Revision + 1
					case <-ctx.Done():
					}
				case <-restart:
					break stream
				}
			}
			cancel()
			for range in { // drain until the inner watch closes
			}
			p.mu.Lock()
			paused := p.paused
			p.mu.Unlock()
			select {
			case <-paused:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// cut stops forwarding events; resume restarts the watch from the last delivered revision.
func (p *pausableStore) cut() (resume func()) {
	p.mu.Lock()
	hold := make(chan struct{})
	p.paused = hold
	close(p.restart)
	p.restart = make(chan struct{})
	p.mu.Unlock()
	return func() { close(hold) }
}

func startCompiler(t *testing.T, s store.Store, o Options) *Compiler {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	c := New(s, o)
	if c.Load() == nil || c.Load().Router == nil {
		t.Fatal("Load before the first publish returned no snapshot or no router")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-c.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("compiler not ready")
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// write puts key=value (a value "" deletes) and waits until the compiler published it.
func write(t *testing.T, s *etcd.Store, c *Compiler, pairs ...string) *Snapshot {
	t.Helper()
	ctx := ctxT(t)
	var rev int64
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			if _, err := s.Delete(ctx, pairs[i]); err != nil {
				t.Fatalf("delete %s: %v", pairs[i], err)
			}
			rev = currentRevision(t, s) // Delete returns the old KV, not the deletion revision
			continue
		}
		kv, _, err := s.Put(ctx, pairs[i], []byte(pairs[i+1]), store.WriteOptions{})
		if err != nil {
			t.Fatalf("put %s: %v", pairs[i], err)
		}
		rev = kv.ModRevision
	}
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	return c.Load()
}

func currentRevision(t *testing.T, s *etcd.Store) int64 {
	t.Helper()
	resp, err := s.Client().Get(ctxT(t), "/")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestCompilerOnEtcd follows one configuration through its life on a real embedded etcd.
func TestCompilerOnEtcd(t *testing.T) {
	s, _ := etcdtest.StartEmbedded(t)
	ctx := ctxT(t)
	// Present before the compiler starts: the initial List path, placeholder included.
	for k, v := range map[string]string{
		"/apisix/routes/":      "init_dir",
		"/apisix/upstreams/u1": `{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`,
		"/apisix/routes/1":     `{"uri":"/one","upstream_id":"u1"}`,
	} {
		if _, _, err := s.Put(ctx, k, []byte(v), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := startCompiler(t, s, Options{})
	s0 := c.Load()
	if s0.Routes["1"] == nil || s0.Routes["1"].Upstream != s0.Upstreams["u1"] || len(s0.Errors) != 0 {
		t.Fatalf("initial snapshot: routes %v errors %v", slices.Sorted(maps.Keys(s0.Routes)), s0.Errors)
	}

	steps := []struct {
		name  string
		pairs []string
		check func(t *testing.T, prev, s *Snapshot)
	}{
		{"service merge", []string{
			"/apisix/services/s", `{"hosts":["svc.example"],"plugins":{"a":{"v":"svc"}},"upstream_id":"u1"}`,
			"/apisix/plugin_configs/p", `{"plugins":{"a":{"v":"pc"},"b":{}}}`,
			"/apisix/routes/2", `{"uri":"/two","service_id":"s","plugin_config_id":"p"}`,
		}, func(t *testing.T, _, s *Snapshot) {
			r := s.Routes["2"]
			rr, _ := tableEntry(s, "2")
			if r == nil || r.Upstream != s.Upstreams["u1"] || string(r.Plugins["a"]) != `{"v":"pc"}` ||
				!slices.Equal(rr.Hosts, []string{"svc.example"}) || r.Unsupported != "a" {
				t.Fatalf("route 2 %+v hosts %v", r, rr.Hosts)
			}
		}},
		{"unrelated change reuses upstream and routes", []string{
			"/apisix/routes/3", `{"uri":"/three","upstream":{"nodes":{"127.0.0.1:1981":1}}}`,
		}, func(t *testing.T, prev, s *Snapshot) {
			if s.Upstreams["u1"] != prev.Upstreams["u1"] || s.Routes["1"] != prev.Routes["1"] || s.Routes["2"] != prev.Routes["2"] {
				t.Fatal("unchanged upstream or routes were rebuilt")
			}
		}},
		{"bad JSON skipped, others served", []string{
			"/apisix/routes/4", `{"uri":"/four",`,
			"/apisix/routes/5", `{"uri":"/five","upstream_id":"u1"}`,
		}, func(t *testing.T, _, s *Snapshot) {
			if s.Routes["4"] != nil || s.Routes["5"] == nil || !strings.Contains(s.Errors["/apisix/routes/4"], "invalid route") {
				t.Fatalf("routes %v errors %v", slices.Sorted(maps.Keys(s.Routes)), s.Errors)
			}
		}},
		{"dangling upstream_id recorded", []string{
			"/apisix/routes/6", `{"uri":"/six","upstream_id":"missing"}`,
		}, func(t *testing.T, _, s *Snapshot) {
			r := s.Routes["6"]
			if r == nil || r.Failure == nil || r.Failure.Status != 502 ||
				!strings.Contains(s.Errors["/apisix/routes/6"], "upstream_id missing not found") {
				t.Fatalf("route 6 %+v errors %v", r, s.Errors)
			}
		}},
		{"status 0 excluded", []string{
			"/apisix/routes/5", `{"uri":"/five","upstream_id":"u1","status":0}`,
		}, func(t *testing.T, _, s *Snapshot) {
			if _, in := tableEntry(s, "5"); s.Routes["5"] != nil || in {
				t.Fatal("disabled route still served")
			}
		}},
		{"delete removes", []string{
			"/apisix/routes/3", "",
			"/apisix/routes/4", "",
		}, func(t *testing.T, _, s *Snapshot) {
			if s.Routes["3"] != nil || s.Errors["/apisix/routes/4"] != "" {
				t.Fatalf("routes %v errors %v", slices.Sorted(maps.Keys(s.Routes)), s.Errors)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			prev := c.Load()
			st.check(t, prev, write(t, s, c, st.pairs...))
		})
	}
}

// TestResetAfterCompaction cuts the watch, changes and compacts etcd, and resumes the watch at
// a compacted revision: the store re-lists and delivers a reset, and the compiler's snapshot
// must equal a fresh compiler's.
func TestResetAfterCompaction(t *testing.T) {
	es, _ := etcdtest.StartEmbedded(t)
	ps := &pausableStore{Store: es, restart: make(chan struct{}), paused: make(chan struct{})}
	c := startCompiler(t, ps, Options{})
	write(t, es, c,
		"/apisix/upstreams/u1", `{"nodes":{"127.0.0.1:1980":1}}`,
		"/apisix/services/s", `{"hosts":["h"],"upstream_id":"u1"}`,
		"/apisix/routes/a", `{"uri":"/a","service_id":"s"}`,
		"/apisix/routes/b", `{"uri":"/b","upstream":{"nodes":{"127.0.0.1:1981":1}}}`,
		"/apisix/routes/c", `{"uri":"/c","upstream_id":"u1"}`,
	)
	before := c.Load()

	resume := ps.cut()
	ctx := ctxT(t)
	for _, kv := range [][2]string{
		{"/apisix/routes/d", `{"uri":"/d","upstream_id":"u1","plugins":{"limit-count":{}}}`},
		{"/apisix/routes/b", `{"uri":"/b2","upstream":{"nodes":{"127.0.0.1:1981":1}}}`},
	} {
		if _, _, err := es.Put(ctx, kv[0], []byte(kv[1]), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := es.Delete(ctx, "/apisix/routes/c"); err != nil {
		t.Fatal(err)
	}
	rev := currentRevision(t, es)
	if _, err := es.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if c.Load() != before {
		t.Fatal("published while the watch was cut")
	}
	resume()
	if err := c.WaitRevision(ctx, rev); err != nil {
		t.Fatal(err)
	}
	got := c.Load()
	fresh := startCompiler(t, es, Options{})
	if describe(got) != describe(fresh.Load()) {
		t.Fatalf("after reset:\n%s\n\nfresh:\n%s", describe(got), describe(fresh.Load()))
	}
	if got.Routes["c"] != nil || got.Routes["d"] == nil || got.Routes["d"].Unsupported != "limit-count" {
		t.Fatalf("routes %v", slices.Sorted(maps.Keys(got.Routes)))
	}
	if got.Upstreams["u1"] != before.Upstreams["u1"] || got.Routes["b"].Upstream != before.Routes["b"].Upstream {
		t.Error("the reset recompiled upstreams whose definition did not change")
	}
}

// TestCommitToPublishLatency logs how long a committed write takes to be published, over 200
// writes on top of 1000 routes. Figures are reported, not asserted.
func TestCommitToPublishLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("latency log")
	}
	s, _ := etcdtest.StartEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, _, err := s.Put(ctx, "/apisix/upstreams/u1", []byte(`{"nodes":{"127.0.0.1:1980":1}}`), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		v := `{"uri":"/r/` + itoa(i) + `","upstream_id":"u1"}`
		if _, _, err := s.Put(ctx, "/apisix/routes/base"+itoa(i), []byte(v), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range []struct {
		debounce, gap time.Duration
	}{{DefaultDebounce, 0}, {DefaultDebounce, 2 * DefaultDebounce}, {-1, 0}} {
		c := startCompiler(t, s, Options{Debounce: run.debounce})
		var lat []time.Duration
		for i := range 200 {
			time.Sleep(run.gap)
			v := `{"uri":"/w/` + itoa(i) + `","upstream_id":"u1"}`
			kv, _, err := s.Put(ctx, "/apisix/routes/w"+itoa(i%20), []byte(v), store.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			committed := time.Now()
			if err := c.WaitRevision(ctx, kv.ModRevision); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(committed))
		}
		slices.Sort(lat)
		t.Logf("debounce %v, gap %v, 1000+20 routes, 200 writes: commit→published p50 %v p90 %v p99 %v max %v",
			run.debounce, run.gap, lat[len(lat)/2], lat[len(lat)*90/100], lat[len(lat)*99/100], lat[len(lat)-1])
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
