package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
)

// limit-count through the real binary: local counters with headers and rejections, a group
// shared by two routes, and the Redis policies (redis with two gateway nodes sharing one limit,
// an outage with and without allow_degradation and the recovery, redis-cluster, redis-sentinel).

var lcReadySeq atomic.Int64

// lcPutAll writes objs, then a plain route on a fresh uri, and waits for that one: snapshots
// are published in order, so the objects before it are live. Waiting on the limited routes
// themselves would spend their quota.
func lcPutAll(t *testing.T, n *node, o *originServer, objs ...[2]string) {
	t.Helper()
	for _, ob := range objs {
		put(t, n, ob[0], ob[1])
	}
	id := fmt.Sprintf("lc_ready_%d", lcReadySeq.Add(1))
	uri := "/_" + id
	put(t, n, "/routes/"+id, routeJSON(o, uri, ""))
	waitFor(t, n.proxyURL(uri), func(st int, _ string) bool { return st == 200 })
}

func lcOrigin(t *testing.T) *originServer {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "origin") })
}

func lcNode(t *testing.T) *node {
	p := newPorts(t)
	return startNode(t, p, p.configYAML(keyConfig(), ""), "")
}

func TestLimitCountLocal(t *testing.T) {
	n := lcNode(t)
	o := lcOrigin(t)
	lcPutAll(t, n, o,
		[2]string{"/routes/lc1", routeJSON(o, "/lc1", `{"limit-count":{"count":2,"time_window":60}}`)},
		[2]string{"/routes/lc2", routeJSON(o, "/lc2", `{"limit-count":{"count":1,"time_window":60,"rejected_code":429,"rejected_msg":"Requests are too frequent, please try again later."}}`)},
		[2]string{"/routes/lc3", routeJSON(o, "/lc3", `{"limit-count":{"count":1,"time_window":60,"show_limit_quota_header":false}}`)},
	)

	t.Run("headers then 503", func(t *testing.T) {
		for i, want := range []string{"1", "0"} {
			r := do(t, "GET", n.proxyURL("/lc1"), "", "")
			if r.Status != 200 || r.Body != "origin" || r.Header.Get("X-RateLimit-Limit") != "2" ||
				r.Header.Get("X-RateLimit-Remaining") != want {
				t.Fatalf("request %d: %d %q %v", i, r.Status, r.Body, r.Header)
			}
			if i == 0 && r.Header.Get("X-RateLimit-Reset") != "60" {
				t.Errorf("first Reset = %q, want 60", r.Header.Get("X-RateLimit-Reset"))
			}
		}
		r := do(t, "GET", n.proxyURL("/lc1"), "", "")
		if r.Status != 503 || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("X-RateLimit-Limit") != "2" {
			t.Fatalf("third: %d %v", r.Status, r.Header)
		}
		if reset := r.Header.Get("X-RateLimit-Reset"); !strings.HasPrefix(reset, "59") && reset != "60" {
			t.Errorf("Reset on rejection = %q", reset)
		}
		// APISIX's 503 page: no JSON body when rejected_msg is not set.
		if strings.Contains(r.Body, "error_msg") {
			t.Errorf("body without rejected_msg: %q", r.Body)
		}
	})

	t.Run("custom code and message", func(t *testing.T) {
		if r := do(t, "GET", n.proxyURL("/lc2"), "", ""); r.Status != 200 {
			t.Fatalf("first: %d", r.Status)
		}
		r := do(t, "GET", n.proxyURL("/lc2"), "", "")
		if r.Status != 429 || r.Body != `{"error_msg":"Requests are too frequent, please try again later."}`+"\n" {
			t.Fatalf("rejected: %d %q", r.Status, r.Body)
		}
	})

	t.Run("no quota headers", func(t *testing.T) {
		r := do(t, "GET", n.proxyURL("/lc3"), "", "")
		if r.Status != 200 || r.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("first: %d %v", r.Status, r.Header)
		}
		if r := do(t, "GET", n.proxyURL("/lc3"), "", ""); r.Status != 503 || r.Header.Get("X-RateLimit-Remaining") != "" {
			t.Fatalf("second: %d %v", r.Status, r.Header)
		}
	})

	t.Run("counters survive an unrelated config change", func(t *testing.T) {
		// lc1 is exhausted; another write rebuilds the snapshot but not lc1's conf.
		lcPutAll(t, n, o, [2]string{"/routes/other", routeJSON(o, "/other", "")})
		if r := do(t, "GET", n.proxyURL("/lc1"), "", ""); r.Status != 503 {
			t.Fatalf("lc1 after a snapshot swap: %d (counter was reset)", r.Status)
		}
		// Changing lc1's conf starts a new counter, as in APISIX (conf version in the key).
		lcPutAll(t, n, o, [2]string{"/routes/lc1", routeJSON(o, "/lc1", `{"limit-count":{"count":3,"time_window":60}}`)})
		if r := do(t, "GET", n.proxyURL("/lc1"), "", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Remaining") != "2" {
			t.Fatalf("lc1 after a conf change: %d %v", r.Status, r.Header)
		}
	})
}

func TestLimitCountGroup(t *testing.T) {
	n := lcNode(t)
	o := lcOrigin(t)
	conf := `{"limit-count":{"count":3,"time_window":60,"group":"shared","rejected_code":429}}`
	lcPutAll(t, n, o,
		[2]string{"/routes/g1", routeJSON(o, "/g1", conf)},
		[2]string{"/routes/g2", routeJSON(o, "/g2", conf)},
	)
	var got []int
	for _, path := range []string{"/g1", "/g2", "/g1", "/g2", "/g1"} {
		got = append(got, do(t, "GET", n.proxyURL(path), "", "").Status)
	}
	if fmt.Sprint(got) != "[200 200 200 429 429]" {
		t.Fatalf("statuses across the group's two routes: %v", got)
	}
	// A different conf under the same group is refused at write time, as in APISIX.
	r := do(t, "PUT", n.adminURL("/routes/g3"), configuredKey,
		routeJSON(o, "/g3", `{"limit-count":{"count":4,"time_window":60,"group":"shared"}}`))
	if r.Status != 400 || !strings.Contains(r.Body, "group conf mismatched") {
		t.Fatalf("mismatched group conf: %d %s", r.Status, r.Body)
	}
}

func redisLimit(port int, count int, extra string) string {
	return fmt.Sprintf(`{"limit-count":{"count":%d,"time_window":60,"policy":"redis","redis_host":"127.0.0.1","redis_port":%d,"redis_timeout":300%s}}`,
		count, port, extra)
}

func TestLimitCountRedisTwoNodes(t *testing.T) {
	rs := redistest.Start(t)
	o := lcOrigin(t)
	a, b := lcNode(t), lcNode(t)
	for _, n := range []*node{a, b} {
		lcPutAll(t, n, o, [2]string{"/routes/r1", routeJSON(o, "/r1", redisLimit(rs.Port, 5, ""))})
	}
	ok, rejected := 0, 0
	for i := 0; i < 12; i++ {
		n := a
		if i%3 == 1 {
			n = b
		}
		r := do(t, "GET", n.proxyURL("/r1"), "", "")
		switch r.Status {
		case 200:
			ok++
			if want := fmt.Sprint(5 - ok); r.Header.Get("X-RateLimit-Remaining") != want {
				t.Errorf("request %d: Remaining %q, want %s", i, r.Header.Get("X-RateLimit-Remaining"), want)
			}
		case 503:
			rejected++
		default:
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	if ok != 5 || rejected != 7 {
		t.Fatalf("two nodes on one Redis: %d allowed, %d rejected; want exactly 5 allowed", ok, rejected)
	}
}

func TestLimitCountRedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	o := lcOrigin(t)
	n := lcNode(t)
	lcPutAll(t, n, o,
		[2]string{"/routes/strict", routeJSON(o, "/strict", redisLimit(rs.Port, 100, ""))},
		[2]string{"/routes/lenient", routeJSON(o, "/lenient", redisLimit(rs.Port, 100, `,"allow_degradation":true`))},
	)
	if r := do(t, "GET", n.proxyURL("/strict"), "", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Remaining") != "99" {
		t.Fatalf("before the outage: %d %v", r.Status, r.Header)
	}
	rs.Stop()
	r := do(t, "GET", n.proxyURL("/strict"), "", "")
	if r.Status != 500 || r.Body != `{"error_msg":"failed to limit count"}`+"\n" {
		t.Fatalf("Redis down: %d %q", r.Status, r.Body)
	}
	r = do(t, "GET", n.proxyURL("/lenient"), "", "")
	if r.Status != 200 || r.Body != "origin" || r.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("Redis down, allow_degradation: %d %q %v", r.Status, r.Body, r.Header)
	}
	// More failures than the client pool has connections: go-redis then stops dialing per
	// request and probes in the background; recovery below must still follow.
	for i := 0; i < 150; i++ {
		if r := do(t, "GET", n.proxyURL("/strict"), "", ""); r.Status != 500 {
			t.Fatalf("outage request %d: %d", i, r.Status)
		}
	}
	if !strings.Contains(n.Logs(), "failed to limit count") {
		t.Errorf("no error logged for the outage")
	}
	rs.Restart()
	// Redis came back empty: the strict route serves and counts again.
	waitFor(t, n.proxyURL("/strict"), func(st int, _ string) bool { return st == 200 })
	if r := do(t, "GET", n.proxyURL("/lenient"), "", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Remaining") != "99" {
		t.Fatalf("lenient after recovery: %d %v", r.Status, r.Header)
	}
}

func TestLimitCountRedisClusterAndSentinel(t *testing.T) {
	cl := redistest.StartCluster(t)
	m := redistest.Start(t)
	sn := redistest.StartSentinel(t, m, "mymaster")
	o := lcOrigin(t)
	n := lcNode(t)
	nodes, _ := json.Marshal(cl.Addrs)
	lcPutAll(t, n, o,
		[2]string{"/routes/cluster", routeJSON(o, "/cluster", fmt.Sprintf(
			`{"limit-count":{"count":2,"time_window":60,"policy":"redis-cluster","redis_cluster_nodes":%s,"redis_cluster_name":"c1"}}`, nodes))},
		[2]string{"/routes/csliding", routeJSON(o, "/csliding", fmt.Sprintf(
			`{"limit-count":{"count":2,"time_window":60,"window_type":"sliding","policy":"redis-cluster","redis_cluster_nodes":%s,"redis_cluster_name":"c1"}}`, nodes))},
		[2]string{"/routes/sentinel", routeJSON(o, "/sentinel", fmt.Sprintf(
			`{"limit-count":{"count":2,"time_window":60,"policy":"redis-sentinel","redis_sentinels":[{"host":"127.0.0.1","port":%d}],"redis_master_name":"mymaster"}}`, sn.Port))},
	)
	for _, path := range []string{"/cluster", "/csliding", "/sentinel"} {
		var got []string
		for i := 0; i < 3; i++ {
			r := do(t, "GET", n.proxyURL(path), "", "")
			got = append(got, fmt.Sprintf("%d/%s", r.Status, r.Header.Get("X-RateLimit-Remaining")))
		}
		if fmt.Sprint(got) != "[200/1 200/0 503/0]" {
			t.Errorf("%s: %v\n%s", path, got, n.Logs())
		}
	}
	// The sentinel route counted on the master it named.
	keys := redistest.MustDo(t, m.Addr, "KEYS", "plugin-limit-count:*")
	if !strings.Contains(keys, "/apisix/routes/sentinel:") {
		t.Errorf("master keys: %q", keys)
	}
}

// sync_interval: each node decides locally and pushes its counts to Redis every interval, so
// after a sync one node sees what the other counted.
func TestLimitCountRedisDelayedSync(t *testing.T) {
	rs := redistest.Start(t)
	o := lcOrigin(t)
	a, b := lcNode(t), lcNode(t)
	for _, n := range []*node{a, b} {
		lcPutAll(t, n, o, [2]string{"/routes/ds", routeJSON(o, "/ds", redisLimit(rs.Port, 10, `,"sync_interval":0.2`))})
	}
	for i := 0; i < 6; i++ {
		if r := do(t, "GET", a.proxyURL("/ds"), "", ""); r.Status != 200 || r.Header.Get("X-RateLimit-Remaining") != fmt.Sprint(9-i) {
			t.Fatalf("a %d: %d %v", i, r.Status, r.Header)
		}
	}
	counted := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			keys := redistest.MustDo(t, rs.Addr, "KEYS", "plugin-limit-count:v1:/apisix/routes/ds:*")
			if keys != "" && redistest.MustDo(t, rs.Addr, "GET", strings.Split(keys, "\n")[0]) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis count did not reach %s: keys %q", want, keys)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	counted("6")
	b1 := do(t, "GET", b.proxyURL("/ds"), "", "")
	if b1.Status != 200 {
		t.Fatalf("b first: %d", b1.Status)
	}
	counted("7")
	time.Sleep(time.Second) // several intervals: b has taken the global count back
	r := do(t, "GET", b.proxyURL("/ds"), "", "")
	if r.Status != 200 || r.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("b after sync: %d Remaining %q, want 2 (6 from a, 2 from b)", r.Status, r.Header.Get("X-RateLimit-Remaining"))
	}
}
