package limitcount

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/redispolicy"
)

func compile(t testing.TB, conf string, env plugin.Env) *LimitCount {
	t.Helper()
	inst, err := New(json.RawMessage(conf), env)
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	lc := inst.(*LimitCount)
	t.Cleanup(lc.Close)
	return lc
}

func route(id string) plugin.Env { return plugin.Env{Parent: "/apisix/routes/" + id} }

func hit(lc *LimitCount, prep func(c *plugintest.Ctx)) *plugintest.Ctx {
	c := plugintest.New()
	if prep != nil {
		prep(c)
	}
	lc.Access(c)
	return c
}

func hdr(c *plugintest.Ctx, name string) string { return c.RespHdr.Get(name) }

func TestFixedLocalHeadersAndReject(t *testing.T) {
	lc := compile(t, `{"count":2,"time_window":60,"rejected_code":429,"rejected_msg":"slow down"}`, route("1"))
	c := hit(lc, nil)
	if c.Exited() || hdr(c, "X-RateLimit-Limit") != "2" || hdr(c, "X-RateLimit-Remaining") != "1" ||
		hdr(c, "X-RateLimit-Reset") != "60" {
		t.Fatalf("first: exited=%v headers=%v", c.Exited(), c.RespHdr)
	}
	c = hit(lc, nil)
	if c.Exited() || hdr(c, "X-RateLimit-Remaining") != "0" {
		t.Fatalf("second: exited=%v headers=%v", c.Exited(), c.RespHdr)
	}
	reset := hdr(c, "X-RateLimit-Reset")
	if !strings.HasPrefix(reset, "59.") && reset != "60" {
		t.Fatalf("second reset = %q, want 59.xx", reset)
	}
	c = hit(lc, nil)
	if c.ExitStatus != 429 || string(c.ExitBody) != `{"error_msg":"slow down"}`+"\n" ||
		hdr(c, "X-RateLimit-Remaining") != "0" || hdr(c, "X-RateLimit-Limit") != "2" {
		t.Fatalf("third: %d %q %v", c.ExitStatus, c.ExitBody, c.RespHdr)
	}
	// Another client has its own counter (key defaults to remote_addr).
	c = hit(lc, func(c *plugintest.Ctx) { c.Remote = netip.MustParseAddr("10.0.0.2") })
	if c.Exited() || hdr(c, "X-RateLimit-Remaining") != "1" {
		t.Fatalf("other client: %v %v", c.Exited(), c.RespHdr)
	}
}

func TestDefaultsNoBodyNoHeaders(t *testing.T) {
	lc := compile(t, `{"count":1,"time_window":60,"show_limit_quota_header":false}`, route("1"))
	if c := hit(lc, nil); c.Exited() || len(c.RespHdr) != 0 {
		t.Fatalf("first: %v %v", c.Exited(), c.RespHdr)
	}
	c := hit(lc, nil)
	if c.ExitStatus != 503 || c.ExitBody != nil || len(c.RespHdr) != 0 {
		t.Fatalf("rejected: %d %q %v", c.ExitStatus, c.ExitBody, c.RespHdr)
	}
}

func TestWindowExpires(t *testing.T) {
	cm := newCounterMap()
	now := time.Now().UnixNano()
	w := int64(time.Second)
	if r := cm.fixed([]byte("k"), 1, 1, w, now); !r.allowed || !r.fullWindow {
		t.Fatalf("first: %+v", r)
	}
	if r := cm.fixed([]byte("k"), 1, 1, w, now+w/2); r.allowed || r.resetNs != w/2 {
		t.Fatalf("second: %+v", r)
	}
	if r := cm.fixed([]byte("k"), 1, 1, w, now+w); !r.allowed || !r.fullWindow {
		t.Fatalf("next window: %+v", r)
	}
}

func TestSlidingLocal(t *testing.T) {
	cm := newCounterMap()
	w := int64(10 * time.Second)
	start := (time.Now().UnixNano()/w + 1) * w // a window boundary
	for i := 0; i < 4; i++ {
		if r := cm.sliding([]byte("k"), 4, 1, w, start+int64(i)); !r.allowed || r.remaining != int64(3-i) {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if r := cm.sliding([]byte("k"), 4, 1, w, start+5); r.allowed {
		t.Fatalf("fifth allowed: %+v", r)
	}
	// Half into the next window the previous 4 weigh 2: two more are allowed, not four.
	mid := start + w + w/2 - int64(time.Millisecond) // the previous window weighs just over half
	allowed := 0
	for i := 0; i < 4; i++ {
		if cm.sliding([]byte("k"), 4, 1, w, mid+int64(i)).allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("allowed %d half a window later, want 2", allowed)
	}
	// Two windows later nothing weighs.
	if r := cm.sliding([]byte("k"), 4, 1, w, start+3*w); !r.allowed || r.remaining != 3 {
		t.Fatalf("later: %+v", r)
	}
}

func TestSlidingHeaders(t *testing.T) {
	lc := compile(t, `{"count":2,"time_window":60,"window_type":"sliding"}`, route("1"))
	c := hit(lc, nil)
	if c.Exited() || hdr(c, "X-RateLimit-Remaining") != "1" || hdr(c, "X-RateLimit-Reset") == "" {
		t.Fatalf("first: %v", c.RespHdr)
	}
	hit(lc, nil)
	if c := hit(lc, nil); c.ExitStatus != 503 || hdr(c, "X-RateLimit-Remaining") != "0" {
		t.Fatalf("third: %d %v", c.ExitStatus, c.RespHdr)
	}
}

func TestKeyTypes(t *testing.T) {
	withHeader := func(v string) func(c *plugintest.Ctx) {
		return func(c *plugintest.Ctx) { c.ReqHeader.Set("X-User", v) }
	}
	t.Run("var", func(t *testing.T) {
		lc := compile(t, `{"count":1,"time_window":60,"key":"http_x_user"}`, route("1"))
		if c := hit(lc, withHeader("a")); c.Exited() {
			t.Fatal("a rejected")
		}
		if c := hit(lc, withHeader("b")); c.Exited() {
			t.Fatal("b rejected: keys are not per header value")
		}
		if c := hit(lc, withHeader("a")); c.ExitStatus != 503 {
			t.Fatal("a allowed twice")
		}
		// No header: falls back to the client address, a counter of its own.
		if c := hit(lc, nil); c.Exited() {
			t.Fatal("fallback rejected")
		}
		if c := hit(lc, nil); c.ExitStatus != 503 {
			t.Fatal("fallback not counted by remote_addr")
		}
	})
	t.Run("var_combination", func(t *testing.T) {
		lc := compile(t, `{"count":1,"time_window":60,"key_type":"var_combination","key":"$http_x_user $arg_k"}`, route("1"))
		if c := hit(lc, withHeader("a")); c.Exited() {
			t.Fatal("a rejected")
		}
		if c := hit(lc, func(c *plugintest.Ctx) { c.ReqHeader.Set("X-User", "a"); c.Query.Set("k", "1") }); c.Exited() {
			t.Fatal("a+k rejected: combination not part of the key")
		}
		if c := hit(lc, withHeader("a")); c.ExitStatus != 503 {
			t.Fatal("a allowed twice")
		}
	})
	t.Run("constant", func(t *testing.T) {
		lc := compile(t, `{"count":1,"time_window":60,"key_type":"constant","key":"all"}`, route("1"))
		hit(lc, nil)
		if c := hit(lc, func(c *plugintest.Ctx) { c.Remote = netip.MustParseAddr("10.9.9.9") }); c.ExitStatus != 503 {
			t.Fatal("constant key not shared by clients")
		}
	})
}

func TestRules(t *testing.T) {
	lc := compile(t, `{"rules":[
		{"count":1,"time_window":60,"key":"$http_user","header_prefix":"user"},
		{"count":3,"time_window":10,"key":"$remote_addr"}]}`, route("1"))
	c := hit(lc, func(c *plugintest.Ctx) { c.ReqHeader.Set("User", "jack") })
	if c.Exited() || hdr(c, "X-user-RateLimit-Limit") != "1" || hdr(c, "X-user-RateLimit-Remaining") != "0" ||
		hdr(c, "X-2-RateLimit-Limit") != "3" || hdr(c, "X-2-RateLimit-Remaining") != "2" ||
		hdr(c, "X-2-RateLimit-Reset") != "10" {
		t.Fatalf("first: %v %v", c.Exited(), c.RespHdr)
	}
	// Without the header the first rule does not apply.
	c = hit(lc, nil)
	if c.Exited() || hdr(c, "X-user-RateLimit-Limit") != "" || hdr(c, "X-2-RateLimit-Remaining") != "1" {
		t.Fatalf("no header: %v %v", c.Exited(), c.RespHdr)
	}
	c = hit(lc, func(c *plugintest.Ctx) { c.ReqHeader.Set("User", "jack") })
	if c.ExitStatus != 503 || hdr(c, "X-user-RateLimit-Remaining") != "0" {
		t.Fatalf("jack again: %d %v", c.ExitStatus, c.RespHdr)
	}

	none := compile(t, `{"rules":[{"count":1,"time_window":60,"key":"$http_user"}]}`, route("2"))
	if c := hit(none, nil); c.ExitStatus != 500 || c.ExitBody != nil {
		t.Fatalf("no rule applies: %d %q", c.ExitStatus, c.ExitBody)
	}
	degrade := compile(t, `{"rules":[{"count":1,"time_window":60,"key":"$http_user"}],"allow_degradation":true}`, route("3"))
	if c := hit(degrade, nil); c.Exited() {
		t.Fatalf("no rule applies with allow_degradation: %d", c.ExitStatus)
	}
}

func TestTemplatedCount(t *testing.T) {
	lc := compile(t, `{"count":"${http_quota ?? 2}","time_window":"$arg_w"}`, route("1"))
	prep := func(q string) func(c *plugintest.Ctx) {
		return func(c *plugintest.Ctx) {
			c.Query.Set("w", "30")
			if q != "" {
				c.ReqHeader.Set("Quota", q)
			}
		}
	}
	c := hit(lc, prep("5"))
	if c.Exited() || hdr(c, "X-RateLimit-Limit") != "5" || hdr(c, "X-RateLimit-Remaining") != "4" ||
		hdr(c, "X-RateLimit-Reset") != "30" {
		t.Fatalf("quota 5: %v", c.RespHdr)
	}
	c = hit(lc, prep(""))
	if c.Exited() || hdr(c, "X-RateLimit-Limit") != "2" || hdr(c, "X-RateLimit-Remaining") != "0" {
		t.Fatalf("default quota: %v", c.RespHdr)
	}
	for _, bad := range []string{"abc", "0", "-1", "1.5", "9007199254740992"} {
		if c := hit(lc, prep(bad)); c.ExitStatus != 500 || c.ExitBody != nil {
			t.Fatalf("count %q: %d %q", bad, c.ExitStatus, c.ExitBody)
		}
	}
	if c := hit(lc, nil); c.ExitStatus != 500 {
		t.Fatalf("missing time_window: %d", c.ExitStatus)
	}
}

func TestMetadataHeaderNames(t *testing.T) {
	env := route("1")
	env.Metadata = json.RawMessage(`{"limit_header":"X-Limit","remaining_header":"X-Left","reset_header":"X-Reset"}`)
	lc := compile(t, `{"count":3,"time_window":60}`, env)
	c := hit(lc, nil)
	if hdr(c, "X-Limit") != "3" || hdr(c, "X-Left") != "2" || hdr(c, "X-Reset") != "60" {
		t.Fatalf("headers %v", c.RespHdr)
	}
}

func TestIdentity(t *testing.T) {
	conf := `{"count":2,"time_window":60}`
	a := compile(t, conf, route("1"))
	hit(a, nil)
	// Another route never shares the counter.
	if c := hit(compile(t, conf, route("2")), nil); hdr(c, "X-RateLimit-Remaining") != "1" {
		t.Fatalf("route 2 shares route 1's counter: %v", c.RespHdr)
	}
	// The same conf on the same route (a rebuilt snapshot) keeps counting.
	b := compile(t, conf, route("1"))
	a.Close()
	if c := hit(b, nil); hdr(c, "X-RateLimit-Remaining") != "0" {
		t.Fatalf("rebuilt instance lost the count: %v", c.RespHdr)
	}
	// A changed conf starts again.
	if c := hit(compile(t, `{"count":2,"time_window":61}`, route("1")), nil); hdr(c, "X-RateLimit-Remaining") != "1" {
		t.Fatalf("changed conf kept the count: %v", c.RespHdr)
	}
	// When the last instance closes, the counters go.
	b.Close()
	if c := hit(compile(t, conf, route("1")), nil); hdr(c, "X-RateLimit-Remaining") != "1" {
		t.Fatalf("counters outlived every instance: %v", c.RespHdr)
	}
}

func TestGroup(t *testing.T) {
	conf := `{"count":2,"time_window":60,"group":"g1"}`
	a := compile(t, conf, route("1"))
	b := compile(t, conf, route("2"))
	hit(a, nil)
	hit(b, nil)
	if c := hit(a, nil); c.ExitStatus != 503 {
		t.Fatalf("group not shared across routes: %d %v", c.ExitStatus, c.RespHdr)
	}
	if _, err := New(json.RawMessage(`{"count":3,"time_window":60,"group":"g1"}`), route("3")); err == nil ||
		err.Error() != "group conf mismatched" {
		t.Fatalf("mismatched group conf: %v", err)
	}
	if _, err := New(json.RawMessage(`{"count":2,"time_window":60,"group":"g1","policy":"redis","redis_host":"127.0.0.1"}`), route("3")); err == nil ||
		err.Error() != "group conf mismatched" {
		t.Fatalf("same group, other policy: %v", err)
	}
}

func TestCheck(t *testing.T) {
	for conf, want := range map[string]string{
		`{"count":1,"time_window":1,"rules":[{"count":1,"time_window":1,"key":"a"}]}`:             "count/time_window and rules cannot be specified at the same time",
		`{"group":"g","rules":[{"count":1,"time_window":1,"key":"a"}]}`:                           "group and rules cannot be specified at the same time",
		`{"rules":[{"count":1,"time_window":1,"key":"a"},{"count":2,"time_window":1,"key":"a"}]}`: "duplicate key 'a' in rules",
		`{"count":1,"time_window":10,"sync_interval":0.05}`:                                       "sync_interval should not be smaller than 0.1",
		`{"count":1,"time_window":10,"sync_interval":10}`:                                         "sync_interval should be smaller than time_window",
	} {
		_, err := New(json.RawMessage(conf), plugin.Env{})
		if err == nil || err.Error() != want {
			t.Errorf("%s: err %v, want %q", conf, err, want)
		}
	}
}

func TestFormatReset(t *testing.T) {
	lc := &LimitCount{}
	for ns, want := range map[int64]string{
		59_987_000_000: "59.98", 59_900_000_000: "59.9", 59_000_000_000: "59", 1_050_000_000: "1.05",
		9_000_000: "0", 0: "0",
	} {
		if got := lc.formatReset(result{resetNs: ns}, 60); got != want {
			t.Errorf("%d: %q, want %q", ns, got, want)
		}
	}
	lc.sliding = true
	if got := lc.formatReset(result{resetNs: 59_981_000_000}, 60); got != "59.99" {
		t.Errorf("sliding ceil: %q", got)
	}
}

func TestBounded(t *testing.T) {
	cm := newCounterMap()
	now := time.Now().UnixNano()
	w := int64(time.Millisecond)
	var kb []byte
	for i := 0; i < 200_000; i++ {
		kb = fmt.Appendf(kb[:0], "k%d", i)
		cm.fixed(kb, 10, 1, w, now+int64(i)*int64(time.Microsecond))
	}
	// Entries expire after 1ms, i.e. after ~1000 inserts; sweeping keeps the map small.
	if n := cm.len(); n > 200_000/4 {
		t.Fatalf("%d entries kept of 200000 mostly expired ones", n)
	}
}

func redisConf(port int, extra string) string {
	return fmt.Sprintf(`{"count":3,"time_window":60,"policy":"redis","redis_host":"127.0.0.1","redis_port":%d,"redis_timeout":200%s}`, port, extra)
}

func TestRedisFixed(t *testing.T) {
	s := redistest.Start(t)
	a := compile(t, redisConf(s.Port, ""), route("1"))
	b := compile(t, redisConf(s.Port, ""), route("1")) // another node with the same route
	want := []string{"2", "1", "0"}
	for i, lc := range []*LimitCount{a, b, a} {
		c := hit(lc, nil)
		if c.Exited() || hdr(c, "X-RateLimit-Remaining") != want[i] {
			t.Fatalf("request %d: %d %v", i, c.ExitStatus, c.RespHdr)
		}
		if i == 0 && hdr(c, "X-RateLimit-Reset") != "60" {
			t.Fatalf("first reset %q", hdr(c, "X-RateLimit-Reset"))
		}
	}
	c := hit(b, nil)
	if c.ExitStatus != 503 || hdr(c, "X-RateLimit-Remaining") != "0" {
		t.Fatalf("fourth: %d %v", c.ExitStatus, c.RespHdr)
	}
	if r := hdr(c, "X-RateLimit-Reset"); !strings.HasPrefix(r, "59.") && r != "60" {
		t.Fatalf("reset %q", r)
	}
	key := "plugin-limit-count:v1:/apisix/routes/1:" + a.prefix[len("/apisix/routes/1:"):] + "127.0.0.1"
	if v := redistest.MustDo(t, s.Addr, "GET", key); v != "4" {
		t.Fatalf("redis %s = %q, want 4 (rejected requests count)", key, v)
	}
}

func TestRedisSliding(t *testing.T) {
	s := redistest.Start(t)
	lc := compile(t, redisConf(s.Port, `,"window_type":"sliding"`), route("1"))
	for i := 0; i < 3; i++ {
		if c := hit(lc, nil); c.Exited() || hdr(c, "X-RateLimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("request %d: %v", i, c.RespHdr)
		}
	}
	if c := hit(lc, nil); c.ExitStatus != 503 {
		t.Fatalf("fourth: %d", c.ExitStatus)
	}
}

func TestRedisDown(t *testing.T) {
	s := redistest.Start(t)
	strict := compile(t, redisConf(s.Port, ""), route("1"))
	lenient := compile(t, redisConf(s.Port, `,"allow_degradation":true`), route("2"))
	s.Stop()
	c := hit(strict, nil)
	if c.ExitStatus != 500 || string(c.ExitBody) != `{"error_msg":"failed to limit count"}`+"\n" {
		t.Fatalf("redis down: %d %q", c.ExitStatus, c.ExitBody)
	}
	if c := hit(lenient, nil); c.Exited() || len(c.RespHdr) != 0 {
		t.Fatalf("redis down, allow_degradation: %d %v", c.ExitStatus, c.RespHdr)
	}
	s.Restart()
	if c := hit(strict, nil); c.Exited() || hdr(c, "X-RateLimit-Remaining") != "2" {
		t.Fatalf("after restart: %d %v", c.ExitStatus, c.RespHdr)
	}
}

func TestRedisClusterAndSentinel(t *testing.T) {
	cl := redistest.StartCluster(t)
	nodes, _ := json.Marshal(cl.Addrs)
	for _, wt := range []string{"fixed", "sliding"} {
		lc := compile(t, fmt.Sprintf(`{"count":2,"time_window":60,"window_type":%q,"policy":"redis-cluster","redis_cluster_nodes":%s,"redis_cluster_name":"c"}`, wt, nodes), route("1"))
		for i, want := range []int{0, 0, 503} {
			if c := hit(lc, func(c *plugintest.Ctx) { c.Remote = netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", 1)) }); c.ExitStatus != want {
				t.Fatalf("cluster %s request %d: %d %v", wt, i, c.ExitStatus, c.RespHdr)
			}
		}
	}
	m := redistest.Start(t)
	sn := redistest.StartSentinel(t, m, "mymaster")
	lc := compile(t, fmt.Sprintf(`{"count":1,"time_window":60,"policy":"redis-sentinel","redis_sentinels":[{"host":"127.0.0.1","port":%d}],"redis_master_name":"mymaster"}`, sn.Port), route("1"))
	if c := hit(lc, nil); c.Exited() {
		t.Fatalf("sentinel first: %d", c.ExitStatus)
	}
	if c := hit(lc, nil); c.ExitStatus != 503 {
		t.Fatalf("sentinel second: %d", c.ExitStatus)
	}
}

func TestDelayedSyncTwoNodes(t *testing.T) {
	s := redistest.Start(t)
	rc := redispolicy.Conf{RedisHost: "127.0.0.1", RedisPort: s.Port}
	node := func() *delayedSync {
		cl, err := rc.Acquire(redispolicy.PolicyRedis)
		if err != nil {
			t.Fatal(err)
		}
		// A long interval: the test triggers syncs itself.
		d := newDelayedSync(cl, time.Hour, slog.Default())
		t.Cleanup(d.close)
		return d
	}
	a, b := node(), node()
	key := []byte("plugin-limit-count:v1:/apisix/routes/1:1:127.0.0.1")
	now := time.Now().UnixNano()
	for i := 0; i < 6; i++ {
		if r := a.incoming(key, 10, 60, now); !r.allowed || r.remaining != int64(9-i) {
			t.Fatalf("a %d: %+v", i, r)
		}
	}
	a.sync()
	if v := redistest.MustDo(t, s.Addr, "GET", string(key)); v != "6" {
		t.Fatalf("redis after a's sync = %q", v)
	}
	if ttl := redistest.MustDo(t, s.Addr, "TTL", string(key)); ttl != "60" && ttl != "59" {
		t.Fatalf("ttl %q", ttl)
	}
	// b decides locally until it syncs, then sees a's six.
	if r := b.incoming(key, 10, 60, now); r.remaining != 9 {
		t.Fatalf("b before sync: %+v", r)
	}
	b.sync()
	if r := b.incoming(key, 10, 60, now); r.remaining != 2 {
		t.Fatalf("b after sync: %+v, want remaining 2 (7 synced + this one)", r)
	}
	for i := 0; i < 2; i++ {
		b.incoming(key, 10, 60, now)
	}
	if r := b.incoming(key, 10, 60, now); r.allowed {
		t.Fatalf("b past the limit: %+v", r)
	}
}

func TestDelayedSyncConf(t *testing.T) {
	s := redistest.Start(t)
	lc := compile(t, redisConf(s.Port, `,"sync_interval":0.1`), route("1"))
	if lc.state.delayed == nil {
		t.Fatal("sync_interval did not enable delayed sync")
	}
	for i := 0; i < 3; i++ {
		if c := hit(lc, nil); c.Exited() || hdr(c, "X-RateLimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("request %d: %d %v", i, c.ExitStatus, c.RespHdr)
		}
	}
	if c := hit(lc, nil); c.ExitStatus != 503 {
		t.Fatalf("fourth: %d", c.ExitStatus)
	}
	key := "plugin-limit-count:v1:" + lc.prefix + "127.0.0.1"
	deadline := time.Now().Add(5 * time.Second)
	for redistest.MustDo(t, s.Addr, "GET", key) != "4" {
		if time.Now().After(deadline) {
			t.Fatalf("counts not synced to redis: %q", redistest.MustDo(t, s.Addr, "GET", key))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Requests are decided locally: a Redis outage does not fail them.
	s.Stop()
	if c := hit(lc, nil); c.ExitStatus != 503 || string(c.ExitBody) == `{"error_msg":"failed to limit count"}`+"\n" {
		t.Fatalf("during outage: %d %q", c.ExitStatus, c.ExitBody)
	}
	// A window not longer than sync_interval goes to Redis directly.
	direct := compile(t, `{"count":1,"time_window":"$arg_w","sync_interval":2,"policy":"redis","redis_host":"127.0.0.1","redis_port":1}`, route("2"))
	if c := hit(direct, func(c *plugintest.Ctx) { c.Query.Set("w", "2") }); c.ExitStatus != 500 {
		t.Fatalf("2s window with sync_interval 2 on a dead Redis: %d (not sent to Redis)", c.ExitStatus)
	}
	if c := hit(direct, func(c *plugintest.Ctx) { c.Query.Set("w", "3") }); c.Exited() {
		t.Fatalf("3s window with sync_interval 2: %d (not decided locally)", c.ExitStatus)
	}
}

func TestLocalConcurrentExact(t *testing.T) {
	lc := compile(t, `{"count":1000,"time_window":60,"key_type":"constant","key":"k"}`, route("1"))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				if c := hit(lc, nil); !c.Exited() {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 1000 {
		t.Fatalf("%d of 2000 concurrent requests allowed, want exactly 1000", allowed.Load())
	}
}

func TestRedisConcurrentExact(t *testing.T) {
	s := redistest.Start(t)
	conf := fmt.Sprintf(`{"count":100,"time_window":60,"key_type":"constant","key":"k","policy":"redis","redis_host":"127.0.0.1","redis_port":%d}`, s.Port)
	// Two instances with distinct pools stand in for two nodes.
	a := compile(t, conf, route("1"))
	b := compile(t, strings.Replace(conf, `"policy"`, `"redis_database":0,"redis_keepalive_pool":7,"policy"`, 1), route("1"))
	a.prefix = b.prefix // the second conf differs only in pool settings; count under one key
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		lc := a
		if g%2 == 1 {
			lc = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				if c := hit(lc, nil); !c.Exited() {
					allowed.Add(1)
				} else if c.ExitStatus != 503 {
					t.Errorf("status %d", c.ExitStatus)
					return
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("%d of 320 concurrent requests allowed, want exactly 100", allowed.Load())
	}
}
