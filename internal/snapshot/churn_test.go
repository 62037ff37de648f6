package snapshot

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/plugin"

	_ "github.com/sluicegw/sluice/plugins/iprestriction"
	_ "github.com/sluicegw/sluice/plugins/proxyrewrite"
)

// Plugin state lives exactly as long as a snapshot holds an instance (DESIGN.md, "The plugin
// contract"): churning 10k routes with stateful plugins through the Compiler's own
// apply/rebuild/publish/Close path must leave the heap where it started.

// churnMax bounds the snap-churn instances one test run may create; their bookkeeping is
// allocated up front, so it is part of the baseline and holds no pointer to an instance.
const churnMax = 1 << 16

var (
	churnSeq       atomic.Int64 // New calls (also the next instance's seq)
	churnCloses    [churnMax]atomic.Int32
	churnCollected [churnMax]atomic.Int32 // the state became unreachable and was collected
)

// churnState is a stateful plugin's per-instance state (counters, a cache): 1 KiB.
type churnState struct {
	buf [1024]byte
}

// churnPlugin is a test-only stateful plugin: New allocates its state, Close records the
// close by seq (an index, not a pointer, so recording keeps nothing alive).
type churnPlugin struct {
	seq   int64
	state *churnState
}

func (p *churnPlugin) Access(plugin.Ctx) {}
func (p *churnPlugin) Close()            { churnCloses[p.seq].Add(1) }

func init() {
	plugin.Register(plugin.Definition{Name: "snap-churn", Priority: 500,
		New: func(conf json.RawMessage, env plugin.Env) (any, error) {
			seq := churnSeq.Add(1) - 1
			if seq >= churnMax {
				return nil, fmt.Errorf("snap-churn: more than %d instances", churnMax)
			}
			st := &churnState{}
			st.buf[0] = byte(seq) // touch it: the state is really there
			runtime.AddCleanup(st, func(seq int64) { churnCollected[seq].Add(1) }, seq)
			return &churnPlugin{seq: seq, state: st}, nil
		}})
}

// churnDriver feeds a Compiler events as its watch would, without a store: rebuild is the
// real build, publish and Close-after-publish path.
type churnDriver struct {
	c       *Compiler
	rev     int64
	created map[string]int64
}

func newChurnDriver() *churnDriver {
	c := New(nil, Options{Logger: quietLogger(), Debounce: -1, Supported: func(name string) bool {
		d, ok := plugin.Lookup(name)
		return ok && d.New != nil
	}})
	return &churnDriver{c: c, created: map[string]int64{}}
}

func (d *churnDriver) put(key, val string) {
	d.rev++
	if _, ok := d.created[key]; !ok {
		d.created[key] = d.rev
	}
	kv := store.KV{Key: key, Value: []byte(val), CreateRevision: d.created[key], ModRevision: d.rev}
	d.c.apply(store.Event{Type: store.EventPut, KV: kv, Revision: d.rev})
}

func (d *churnDriver) del(key string) {
	d.rev++
	delete(d.created, key)
	d.c.apply(store.Event{Type: store.EventDelete, KV: store.KV{Key: key, ModRevision: d.rev}, Revision: d.rev})
}

func (d *churnDriver) rebuild(t *testing.T) *Snapshot {
	t.Helper()
	if !d.c.rebuild() {
		t.Fatal("rebuild failed")
	}
	return d.c.Load()
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func heapNow() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

const mib = 1 << 20

func churnRouteKey(i int) string { return fmt.Sprintf("/apisix/routes/%d", i) }

// churnRoute is route i with three plugins; gen changes snap-churn's and proxy-rewrite's
// confs, ip-restriction's stays the same.
func churnRoute(i, gen int) string {
	return fmt.Sprintf(`{"uri":"/churn/%d","upstream":{"nodes":{"10.%d.%d.1:80":1}},"plugins":{`+
		`"snap-churn":{"gen":%d,"i":%d},`+
		`"proxy-rewrite":{"uri":"/up/%d/%d","headers":{"set":{"X-Gen":"%d"}}},`+
		`"ip-restriction":{"whitelist":["10.0.0.0/8","192.168.%d.0/24"]}}}`,
		i, i/256%256, i%256, gen, i, gen, i, gen, i%256)
}

func TestChurnDoesNotLeak(t *testing.T) {
	const (
		n     = 10000
		batch = 2500 // routes per build: each phase is 4 builds, as a burst of writes would be
		slack = 8 * mib
	)
	// A fresh count per run (-count=N): every earlier instance was closed and collected.
	churnSeq.Store(0)
	for i := range churnMax {
		churnCloses[i].Store(0)
		churnCollected[i].Store(0)
	}
	d := newChurnDriver()
	d.c.apply(store.Event{Type: store.EventReset, Revision: d.rev})
	d.rebuild(t)

	// checkChains: every route is served with its three plugins; snap-churn's instance is
	// open. It returns route -> instances for pointer comparisons.
	checkChains := func(s *Snapshot) map[string][]*pluginrt.Instance {
		t.Helper()
		if len(s.Routes) != n {
			t.Fatalf("%d routes served, want %d; errors %v", len(s.Routes), n, firstErrors(s.Errors))
		}
		out := make(map[string][]*pluginrt.Instance, n)
		for id, r := range s.Routes {
			if r.Chain.Len() != 3 || r.Unsupported != "" {
				t.Fatalf("route %s: chain of %d, unsupported %q", id, r.Chain.Len(), r.Unsupported)
			}
			p := r.Chain.Get("snap-churn").Impl.(*churnPlugin)
			if c := churnCloses[p.seq].Load(); c != 0 {
				t.Fatalf("route %s: live snap-churn instance %d closed %d times", id, p.seq, c)
			}
			out[id] = []*pluginrt.Instance{r.Chain.Get("snap-churn"), r.Chain.Get("proxy-rewrite"), r.Chain.Get("ip-restriction")}
		}
		return out
	}

	var peak uint64
	sample := func() { peak = max(peak, heapNow()) }

	// churn runs one cycle: create, carry over, update all, delete all. It reports the heap
	// after GC with every route loaded.
	churn := func(cycle int) (loaded uint64) {
		seq0 := churnSeq.Load()
		g0, g1 := 2*cycle, 2*cycle+1

		// 1. Create 10k routes.
		var s *Snapshot
		for i := range n {
			d.put(churnRouteKey(i), churnRoute(i, g0))
			if (i+1)%batch == 0 {
				s = d.rebuild(t)
				sample()
			}
		}
		gen0 := checkChains(s)
		if got := churnSeq.Load() - seq0; got != n {
			t.Fatalf("%d snap-churn New calls for %d routes", got, n)
		}
		loaded = heapAfterGC()

		// 2. An unrelated write, and a route write that leaves its plugins alone: nothing
		// is compiled, nothing retired, every instance carries over by pointer.
		news := churnSeq.Load()
		d.put("/apisix/routes/unrelated", `{"uri":"/unrelated","upstream":{"nodes":{"10.255.0.1:80":1}}}`)
		touched := churnRoute(7, g0)
		d.put(churnRouteKey(7), touched[:len(touched)-1]+`,"desc":"touched"}`)
		d.rebuild(t)
		sample()
		if got := churnSeq.Load() - news; got != 0 {
			t.Fatalf("unrelated change: %d New calls", got)
		}
		d.del("/apisix/routes/unrelated")
		same := checkChains(d.rebuild(t))
		for id, was := range gen0 {
			for j, in := range same[id] {
				if in != was[j] {
					t.Fatalf("route %s: %s recompiled by an unrelated change", id, in.Name)
				}
			}
		}

		// 3. Update every route: snap-churn and proxy-rewrite are replaced (the old ones
		// Closed once the snapshot without them is out), ip-restriction carries over.
		for i := range n {
			d.put(churnRouteKey(i), churnRoute(i, g1))
			if (i+1)%batch == 0 {
				s = d.rebuild(t)
				sample()
			}
		}
		gen1 := checkChains(s)
		for id, was := range gen0 {
			now := gen1[id]
			if now[0] == was[0] || now[1] == was[1] || now[2] != was[2] {
				t.Fatalf("route %s after a conf update: snap-churn replaced %v, proxy-rewrite replaced %v, ip-restriction kept %v",
					id, now[0] != was[0], now[1] != was[1], now[2] == was[2])
			}
			if p := was[0].Impl.(*churnPlugin); churnCloses[p.seq].Load() != 1 {
				t.Fatalf("route %s: replaced instance %d closed %d times", id, p.seq, churnCloses[p.seq].Load())
			}
		}
		if got := churnSeq.Load() - seq0; got != 2*n {
			t.Fatalf("%d snap-churn New calls after one update of %d routes, want %d", got, n, 2*n)
		}

		// 4. Delete every route.
		for i := range n {
			d.del(churnRouteKey(i))
			if (i+1)%batch == 0 {
				s = d.rebuild(t)
				sample()
			}
		}
		if len(s.Routes) != 0 {
			t.Fatalf("%d routes left", len(s.Routes))
		}
		// The driver plays the store: its bookkeeping is not the compiler's to free.
		d.created = map[string]int64{}
		return loaded
	}

	// Every instance so far was Closed exactly once, and its state became garbage
	// (cleanups run on their own goroutine after the GC that found the state unreachable).
	checkFreed := func() {
		t.Helper()
		total := churnSeq.Load()
		for seq := range total {
			if c := churnCloses[seq].Load(); c != 1 {
				t.Fatalf("snap-churn instance %d closed %d times, want 1", seq, c)
			}
		}
		uncollected := func() (k int64) {
			for seq := range total {
				if churnCollected[seq].Load() == 0 {
					k++
				}
			}
			return k
		}
		for deadline := time.Now().Add(5 * time.Second); uncollected() > 0 && time.Now().Before(deadline); {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if k := uncollected(); k > 0 {
			t.Fatalf("%d of %d snap-churn states still reachable after every route was deleted", k, total)
		}
	}

	baseline := heapAfterGC()
	start := time.Now()
	loaded := churn(0)
	after1 := heapAfterGC()
	checkFreed()
	// A second cycle: what the first one left (map capacity sized for 10k entries) is
	// reused, not added to.
	churn(1)
	after2 := heapAfterGC()
	checkFreed()
	elapsed := time.Since(start)

	f := func(v uint64) float64 { return float64(v) / mib }
	t.Logf("2 churn cycles of %d routes (create, carry-over, update all, delete all; %d snap-churn instances) in %v: "+
		"heap baseline %.2f MiB, loaded %.2f MiB (after GC), peak %.2f MiB (sampled), after cycle 1 %.2f MiB (%+.2f), after cycle 2 %.2f MiB (%+.2f)",
		n, churnSeq.Load(), elapsed.Round(time.Millisecond), f(baseline), f(loaded), f(max(peak, loaded)),
		f(after1), f(after1)-f(baseline), f(after2), f(after2)-f(baseline))
	for _, after := range []uint64{after1, after2} {
		if after > baseline+slack {
			t.Fatalf("heap %.2f MiB after deleting every route, baseline %.2f MiB: more than %d MiB retained",
				f(after), f(baseline), slack/mib)
		}
	}
	if after2 > after1+mib {
		t.Fatalf("heap grew %.2f MiB over a second churn cycle: something accumulates per cycle", f(after2)-f(after1))
	}
	runtime.KeepAlive(d)
}

func firstErrors(errs map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range errs {
		if len(out) == 3 {
			break
		}
		out[k] = v
	}
	return out
}

// tenKWithPlugins is 10k routes, each with proxy-rewrite and ip-restriction of its own.
func tenKWithPlugins() map[string]string {
	objs := map[string]string{"/apisix/upstreams/u": `{"nodes":{"10.0.0.1:80":1}}`}
	for i := range 10000 {
		objs[churnRouteKey(i)] = pluginRoute(i, 0)
	}
	return objs
}

func pluginRoute(i, gen int) string {
	return fmt.Sprintf(`{"uri":"/r/%d","upstream_id":"u","plugins":{`+
		`"proxy-rewrite":{"uri":"/up/%d/%d"},"ip-restriction":{"whitelist":["10.0.0.0/8"]}}}`, i, i, gen)
}

// BenchmarkRebuildWithPlugins measures one build of 10k routes with 2 plugins each after one
// write: the carried-over instances cost a conf comparison each, the changed one a New.
func BenchmarkRebuildWithPlugins(b *testing.B) {
	supported := func(name string) bool { d, ok := plugin.Lookup(name); return ok && d.New != nil }
	changes := []struct {
		name string
		key  string
		val  func(i int) string
	}{
		{"one route's plugin conf", churnRouteKey(5), func(i int) string { return pluginRoute(5, i+1) }},
		{"one route, plugins unchanged", churnRouteKey(5), func(i int) string {
			return fmt.Sprintf(`{"uri":"/r/5","upstream_id":"u","desc":"%d","plugins":{`+
				`"proxy-rewrite":{"uri":"/up/5/0"},"ip-restriction":{"whitelist":["10.0.0.0/8"]}}}`, i)
		}},
		{"unrelated ssl", "/apisix/ssls/1", func(i int) string { return fmt.Sprintf(`{"snis":["%d.example"]}`, i) }},
	}
	for _, ch := range changes {
		b.Run(ch.name, func(b *testing.B) {
			f := newFixture(b, Options{Supported: supported})
			f.load(tenKWithPlugins())
			if s := f.build(); len(s.Routes) != 10000 || f.route(s, "5").Chain.Len() != 2 {
				b.Fatalf("%d routes served", len(s.Routes))
			}
			f.b.takeRetiredPlugins()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f.put(ch.key, ch.val(i))
				f.build()
				for _, in := range f.b.takeRetiredPlugins() {
					in.Close()
				}
			}
		})
	}
	b.Run("full build (first list or reset)", func(b *testing.B) {
		objs := tenKWithPlugins()
		b.ReportAllocs()
		for range b.N {
			f := newFixture(b, Options{Supported: supported})
			f.load(objs)
			f.build()
		}
	})
}
