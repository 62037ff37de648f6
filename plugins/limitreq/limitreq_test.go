package limitreq

import (
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/limitkey"
)

func newInst(t *testing.T, parent, conf string) *LimitReq {
	t.Helper()
	inst, err := New(json.RawMessage(conf), plugin.Env{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	l := inst.(*LimitReq)
	t.Cleanup(l.Close)
	return l
}

func access(l *LimitReq, setup func(*plugintest.Ctx)) *plugintest.Ctx {
	c := plugintest.New()
	if setup != nil {
		setup(c)
	}
	l.Access(c)
	return c
}

func TestRejectOverBurst(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		status     int
		body       string
	}{
		{"default code, no body", `{"rate":1,"burst":0,"key":"remote_addr","nodelay":true}`, 503, ""},
		{"custom code and msg", `{"rate":1,"burst":0,"key":"remote_addr","rejected_code":429,"rejected_msg":"slow down"}`, 429, `{"error_msg":"slow down"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newInst(t, "/apisix/routes/"+tc.name, tc.conf)
			if c := access(l, nil); c.Exited() {
				t.Fatalf("first request rejected: %d", c.ExitStatus)
			}
			c := access(l, nil)
			if !c.Exited() || c.ExitStatus != tc.status || string(c.ExitBody) != tc.body {
				t.Fatalf("second request: exited=%v %d %q, want %d %q", c.Exited(), c.ExitStatus, c.ExitBody, tc.status, tc.body)
			}
			// Another client has its own bucket.
			if c := access(l, func(c *plugintest.Ctx) { c.Remote = netip.MustParseAddr("10.0.0.2") }); c.Exited() {
				t.Fatalf("other client rejected: %d", c.ExitStatus)
			}
		})
	}
}

// A request within burst waits excess/rate: at 10 req/s the second immediate request waits
// about 100 ms, unless nodelay.
func TestDelayWithinBurst(t *testing.T) {
	l := newInst(t, "/apisix/routes/delay", `{"rate":10,"burst":2,"key":"remote_addr"}`)
	access(l, nil)
	start := time.Now()
	if c := access(l, nil); c.Exited() {
		t.Fatalf("rejected: %d", c.ExitStatus)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("second request waited %v, want about 100ms", d)
	}

	nd := newInst(t, "/apisix/routes/nodelay", `{"rate":10,"burst":2,"key":"remote_addr","nodelay":true}`)
	access(nd, nil)
	start = time.Now()
	access(nd, nil)
	if d := time.Since(start); d >= 80*time.Millisecond {
		t.Fatalf("nodelay request waited %v", d)
	}
	// Burst 2: the third immediate request is within it, the fourth is not.
	if c := access(nd, nil); c.Exited() {
		t.Fatalf("within burst rejected")
	}
	if c := access(nd, nil); !c.Exited() || c.ExitStatus != 503 {
		t.Fatalf("over burst: exited=%v %d", c.Exited(), c.ExitStatus)
	}
}

func TestKeys(t *testing.T) {
	l := newInst(t, "/apisix/routes/keys", `{"rate":1,"burst":0,"key":"$http_x_user $arg_a","key_type":"var_combination","nodelay":true}`)
	user := func(u string) func(*plugintest.Ctx) {
		return func(c *plugintest.Ctx) { c.ReqHeader.Set("X-User", u) }
	}
	if access(l, user("jack")).Exited() || access(l, user("rose")).Exited() {
		t.Fatal("first request per user rejected")
	}
	if !access(l, user("jack")).Exited() {
		t.Fatal("second request of jack passed")
	}
	// Nothing resolved: the client address is the key.
	if access(l, nil).Exited() {
		t.Fatal("first keyless request rejected")
	}
	if !access(l, nil).Exited() {
		t.Fatal("second keyless request passed")
	}

	v := newInst(t, "/apisix/routes/keys-var", `{"rate":1,"burst":0,"key":"http_x_user","nodelay":true}`)
	if access(v, user("a")).Exited() || access(v, nil).Exited() || !access(v, user("a")).Exited() {
		t.Fatal("var key not applied per header value")
	}
}

// Instances of the same parent and conf share buckets (a snapshot swap keeps counters); another
// parent or another conf does not; the last Close frees them.
func TestStateIdentity(t *testing.T) {
	const conf = `{"rate":1,"burst":0,"key":"remote_addr","nodelay":true}`
	a, err := New(json.RawMessage(conf), plugin.Env{Parent: "/apisix/routes/id"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(json.RawMessage(conf), plugin.Env{Parent: "/apisix/routes/id"})
	other, _ := New(json.RawMessage(conf), plugin.Env{Parent: "/apisix/routes/other"})
	changed, _ := New(json.RawMessage(`{"rate":1,"burst":0,"key":"remote_addr","nodelay":true,"rejected_code":502}`), plugin.Env{Parent: "/apisix/routes/id"})
	access(a.(*LimitReq), nil)
	if !access(b.(*LimitReq), nil).Exited() {
		t.Fatal("same identity did not share the bucket")
	}
	if access(other.(*LimitReq), nil).Exited() || access(changed.(*LimitReq), nil).Exited() {
		t.Fatal("other parent or conf shared the bucket")
	}
	id := "/apisix/routes/id:" + limitkey.ConfVersion([]byte(conf))
	a.(*LimitReq).Close()
	storesMu.Lock()
	_, live := stores[id]
	storesMu.Unlock()
	if !live {
		t.Fatal("store freed while an instance still holds it")
	}
	b.(*LimitReq).Close()
	other.(*LimitReq).Close()
	changed.(*LimitReq).Close()
	storesMu.Lock()
	n := len(stores)
	storesMu.Unlock()
	if n != 0 {
		t.Fatalf("%d stores left after every instance closed", n)
	}
}

func TestLeakyBucketMath(t *testing.T) {
	s := &localStore{rate: 2000, burst: 1000, stop: make(chan struct{})} // 2 req/s, burst 1
	s.janitor.Do(func() {})
	key := []byte("k")
	if e, rej := s.incoming(key, 0); rej || e != 0 {
		t.Fatalf("first: %v %v", e, rej)
	}
	if e, rej := s.incoming(key, 100); rej || e != 800 { // 0 - 2000*0.1 + 1000
		t.Fatalf("second: %v %v", e, rej)
	}
	if _, rej := s.incoming(key, 150); !rej { // 800 - 100 + 1000 = 1700 > 1000
		t.Fatal("third not rejected")
	}
	if e, rej := s.incoming(key, 500); rej || e != 1000 { // rejected left last at 100: 800-800+1000
		t.Fatalf("fourth: %v %v", e, rej)
	}
	s.sweep(500 + 999) // (1000+1000)/2 req/s = 1000 ms to drain completely
	if _, ok := s.buckets.Load("k"); !ok {
		t.Fatal("swept a bucket that still matters")
	}
	s.sweep(1500)
	if _, ok := s.buckets.Load("k"); ok {
		t.Fatal("drained bucket not swept")
	}
}

// fixedVars answers every variable with one value without allocating, so AllocsPerRun
// measures the plugin alone.
type fixedVars struct {
	*plugintest.Ctx
	val []byte
}

func (f *fixedVars) Lookup(*plugin.Var) ([]byte, bool) { return f.val, true }

func TestAccessDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	l := newInst(t, "/apisix/routes/allocs", `{"rate":1000000,"burst":1000000,"key":"remote_addr","nodelay":true}`)
	c := &fixedVars{plugintest.New(), []byte("10.1.2.3")}
	l.Access(c)
	if n := testing.AllocsPerRun(100, func() { l.Access(c) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// Requests racing the sweeper: a request that loaded a bucket the sweeper then removed retries
// on a fresh one; run under -race.
func TestSweepRace(t *testing.T) {
	s := &localStore{rate: 1e6, burst: 1e9, stop: make(chan struct{})}
	s.janitor.Do(func() {})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				s.incoming([]byte("k"), clock())
			}
		}()
	}
	for i := 0; i < 200; i++ {
		s.sweep(clock() + 1e6)
	}
	wg.Wait()
}

func BenchmarkAccessLocal(b *testing.B) {
	inst, _ := New(json.RawMessage(`{"rate":1e9,"burst":1e9,"key":"remote_addr","nodelay":true}`), plugin.Env{Parent: "/bench"})
	l := inst.(*LimitReq)
	defer l.Close()
	b.RunParallel(func(pb *testing.PB) {
		c := &fixedVars{plugintest.New(), []byte("10.1.2.3")}
		for pb.Next() {
			l.Access(c)
		}
	})
}
