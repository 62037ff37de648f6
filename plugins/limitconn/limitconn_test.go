package limitconn

import (
	"encoding/json"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func newInst(t *testing.T, parent, conf string) *LimitConn {
	t.Helper()
	inst, err := New(json.RawMessage(conf), plugin.Env{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	l := inst.(*LimitConn)
	t.Cleanup(l.Close)
	return l
}

func access(l *LimitConn, setup func(*plugintest.Ctx)) *plugintest.Ctx {
	c := plugintest.New()
	if setup != nil {
		setup(c)
	}
	l.Access(c)
	return c
}

func TestConcurrencyLimit(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		status     int
		body       string
	}{
		{"default", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`, 503, ""},
		{"custom", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_code":429,"rejected_msg":"too many"}`,
			429, `{"error_msg":"too many"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newInst(t, "/apisix/routes/"+tc.name, tc.conf)
			a := access(l, nil)
			if a.Exited() {
				t.Fatalf("first request rejected: %d", a.ExitStatus)
			}
			b := access(l, nil)
			if !b.Exited() || b.ExitStatus != tc.status || string(b.ExitBody) != tc.body {
				t.Fatalf("second in flight: exited=%v %d %q", b.Exited(), b.ExitStatus, b.ExitBody)
			}
			l.Log(b) // a rejected request holds nothing
			l.Log(a)
			l.Log(a) // twice is harmless
			if c := access(l, nil); c.Exited() {
				t.Fatalf("after the first finished: rejected %d", c.ExitStatus)
			} else {
				l.Log(c)
			}
			st := l.backend.(*localBackend).store
			n := 0
			st.counters.Range(func(any, any) bool { n++; return true })
			if n != 0 {
				t.Fatalf("%d counters left with nothing in flight", n)
			}
		})
	}
}

// Within burst a request waits default_conn_delay × floor((n−1)/conn).
func TestBurstDelay(t *testing.T) {
	l := newInst(t, "/apisix/routes/burst", `{"conn":1,"burst":1,"default_conn_delay":0.1,"only_use_default_delay":true,"key":"remote_addr"}`)
	a := access(l, nil)
	start := time.Now()
	b := access(l, nil)
	if el := time.Since(start); b.Exited() || el < 80*time.Millisecond {
		t.Fatalf("burst request: exited=%v waited %v, want about 100ms", b.Exited(), el)
	}
	if c := access(l, nil); !c.Exited() || c.ExitStatus != 503 {
		t.Fatalf("over burst: exited=%v %d", c.Exited(), c.ExitStatus)
	}
	l.Log(a)
	l.Log(b)
	if got := math.Float64frombits(l.unitDelay.Load()); got != 0.1 {
		t.Fatalf("only_use_default_delay: unit delay changed to %v", got)
	}
}

// Without only_use_default_delay the unit delay moves to the average with each latency.
func TestAdaptiveDelay(t *testing.T) {
	l := newInst(t, "/apisix/routes/adapt", `{"conn":1,"burst":1,"default_conn_delay":1,"key":"remote_addr"}`)
	c := access(l, nil)
	c.Info.UpLatency = 200 * time.Millisecond
	l.Log(c)
	if got := math.Float64frombits(l.unitDelay.Load()); math.Abs(got-0.6) > 1e-9 {
		t.Fatalf("unit delay %v, want (1+0.2)/2", got)
	}
}

func TestRulesAndTemplates(t *testing.T) {
	l := newInst(t, "/apisix/routes/rules", `{"default_conn_delay":0.1,"rules":[
		{"conn":1,"burst":0,"key":"$http_x_user"},
		{"conn":"$http_x_conn","burst":"0","key":"all"}]}`)
	user := func(u string) func(*plugintest.Ctx) {
		return func(c *plugintest.Ctx) { c.ReqHeader.Set("X-User", u) }
	}
	a := access(l, user("jack"))
	if a.Exited() {
		t.Fatalf("first rejected: %d", a.ExitStatus)
	}
	if b := access(l, user("jack")); !b.Exited() || b.ExitStatus != 503 {
		t.Fatalf("same user in flight: %v %d", b.Exited(), b.ExitStatus)
	}
	r := access(l, user("rose"))
	if r.Exited() {
		t.Fatalf("other user rejected: %d", r.ExitStatus)
	}
	// No rule resolves: 500 without body.
	if c := access(l, nil); c.ExitStatus != 500 || c.ExitBody != nil {
		t.Fatalf("no rule: %d %q", c.ExitStatus, c.ExitBody)
	}
	l.Log(a)
	l.Log(r)
	// The second rule applies once X-Conn resolves to an integer ≥ 1; "all" is a constant key
	// with no variable, so it never resolves and is skipped, as a rule key is a template.
	h := access(l, func(c *plugintest.Ctx) { c.ReqHeader.Set("X-User", "x"); c.ReqHeader.Set("X-Conn", "1") })
	if h.Exited() || len(h.Get(l).(*held).leases) != 1 {
		t.Fatalf("rules applied: exited=%v", h.Exited())
	}
	l.Log(h)

	deg := newInst(t, "/apisix/routes/rules-deg", `{"default_conn_delay":0.1,"allow_degradation":true,"rules":[{"conn":1,"burst":0,"key":"$http_x_user"}]}`)
	if c := access(deg, nil); c.Exited() {
		t.Fatalf("allow_degradation: %d", c.ExitStatus)
	}

	tpl := newInst(t, "/apisix/routes/tpl", `{"conn":"$arg_c","burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`)
	arg := func(v string) func(*plugintest.Ctx) { return func(c *plugintest.Ctx) { c.Query.Set("c", v) } }
	x := access(tpl, arg("2"))
	y := access(tpl, arg("2"))
	if x.Exited() || y.Exited() {
		t.Fatal("conn 2 from the template not applied")
	}
	if z := access(tpl, arg("2")); !z.Exited() || z.ExitStatus != 503 {
		t.Fatalf("third with conn 2: %d", z.ExitStatus)
	}
	for _, bad := range []string{"0", "1.5", "x"} {
		if c := access(tpl, arg(bad)); c.ExitStatus != 500 {
			t.Fatalf("conn %q: %d, want 500", bad, c.ExitStatus)
		}
	}
	tpl.Log(x)
	tpl.Log(y)
}

func TestStateIdentity(t *testing.T) {
	const conf = `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`
	a := newInst(t, "/apisix/routes/id", conf)
	b := newInst(t, "/apisix/routes/id", conf)
	other := newInst(t, "/apisix/routes/id2", conf)
	held := access(a, nil)
	if !access(b, nil).Exited() {
		t.Fatal("same identity did not share the counter")
	}
	if access(other, nil).Exited() {
		t.Fatal("another parent shared the counter")
	}
	a.Log(held)
	if access(b, nil).Exited() {
		t.Fatal("slot not given back through the shared store")
	}
}

// fixedVars answers every variable with one value without allocating, so AllocsPerRun
// measures the plugin alone.
type fixedVars struct {
	*plugintest.Ctx
	val []byte
}

func (f *fixedVars) Lookup(*plugin.Var) ([]byte, bool) { return f.val, true }

func TestAccessLogDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	l := newInst(t, "/apisix/routes/allocs", `{"conn":100,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`)
	c := &fixedVars{plugintest.New(), []byte("10.1.2.3")}
	// Keep one request in flight so the key's counter is not retired between runs.
	l.Access(c)
	c2 := &fixedVars{plugintest.New(), []byte("10.1.2.3")}
	c2.Info.UpLatency = time.Millisecond
	l.Access(c2)
	l.Log(c2)
	if n := testing.AllocsPerRun(100, func() { l.Access(c2); l.Log(c2) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// Many goroutines taking and giving back slots of one key: never more than conn admitted at
// once, and nothing left afterwards (exercises the retire/retry path of counters).
func TestConcurrentSlots(t *testing.T) {
	l := newInst(t, "/apisix/routes/conc", `{"conn":3,"burst":0,"default_conn_delay":0.001,"only_use_default_delay":true,"key":"remote_addr"}`)
	var admitted, peak atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				c := plugintest.New()
				l.Access(c)
				if !c.Exited() {
					n := admitted.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					admitted.Add(-1)
				}
				l.Log(c)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Fatalf("%d admitted at once, conn is 3", p)
	}
	n := 0
	l.backend.(*localBackend).store.counters.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d counters left", n)
	}
}

func BenchmarkAccessLogLocal(b *testing.B) {
	inst, _ := New(json.RawMessage(`{"conn":1000000,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`), plugin.Env{Parent: "/bench"})
	l := inst.(*LimitConn)
	defer l.Close()
	b.RunParallel(func(pb *testing.PB) {
		c := &fixedVars{plugintest.New(), []byte("10.1.2.3")}
		for pb.Next() {
			l.Access(c)
			l.Log(c)
		}
	})
}
