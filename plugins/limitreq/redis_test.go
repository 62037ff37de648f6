package limitreq

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
)

func TestRedisPolicy(t *testing.T) {
	s := redistest.Start(t)
	conf := fmt.Sprintf(`{"rate":1,"burst":1,"key":"remote_addr","nodelay":true,"rejected_code":429,
		"policy":"redis","redis_host":"127.0.0.1","redis_port":%d}`, s.Port)
	// Two instances of different parents with the same Redis: separate buckets; the same
	// parent on "another node" (a second instance) shares one.
	a := newInst(t, "/apisix/routes/r1", conf)
	a2 := newInst(t, "/apisix/routes/r1", conf)
	b := newInst(t, "/apisix/routes/r2", conf)
	for i, want := range []int{0, 0, 429} { // burst 1: two immediate requests admitted
		l := a
		if i == 1 {
			l = a2
		}
		c := access(l, nil)
		if got := c.ExitStatus; got != want {
			t.Fatalf("request %d: status %d, want %d", i, got, want)
		}
	}
	if c := access(b, nil); c.Exited() {
		t.Fatalf("other route rejected: %d", c.ExitStatus)
	}
	keys := redistest.MustDo(t, s.Addr, "KEYS", "limit_req:*")
	if !strings.Contains(keys, "limit_req:/apisix/routes/r1:") || !strings.HasSuffix(strings.Split(keys, "\n")[0], ":127.0.0.1") {
		t.Fatalf("redis keys: %q", keys)
	}
	ttl := redistest.MustDo(t, s.Addr, "TTL", strings.Split(keys, "\n")[0])
	if ttl != "2" && ttl != "1" { // ceil(burst/rate)+1
		t.Fatalf("ttl %s", ttl)
	}

	// The delay comes from the shared excess too.
	d := newInst(t, "/apisix/routes/r3", fmt.Sprintf(`{"rate":10,"burst":5,"key":"remote_addr",
		"policy":"redis","redis_host":"127.0.0.1","redis_port":%d}`, s.Port))
	access(d, nil)
	start := time.Now()
	access(d, nil)
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Fatalf("second request waited %v, want about 100ms", el)
	}
}

func TestRedisDown(t *testing.T) {
	s := redistest.Start(t)
	s.Stop()
	conf := `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","redis_port":%d%s}`
	l := newInst(t, "/apisix/routes/down", fmt.Sprintf(conf, s.Port, ""))
	if c := access(l, nil); c.ExitStatus != 500 || c.ExitBody != nil {
		t.Fatalf("backend error: %d %q, want 500 without body", c.ExitStatus, c.ExitBody)
	}
	dg := newInst(t, "/apisix/routes/down2", fmt.Sprintf(conf, s.Port, `,"allow_degradation":true`))
	if c := access(dg, nil); c.Exited() {
		t.Fatalf("allow_degradation: rejected %d", c.ExitStatus)
	}
}

func TestRedisClusterPolicy(t *testing.T) {
	cl := redistest.StartCluster(t)
	nodes, _ := json.Marshal(cl.Addrs)
	l := newInst(t, "/apisix/routes/cluster", fmt.Sprintf(`{"rate":1,"burst":0,"key":"remote_addr","nodelay":true,
		"policy":"redis-cluster","redis_cluster_nodes":%s,"redis_cluster_name":"test"}`, nodes))
	if c := access(l, nil); c.Exited() {
		t.Fatalf("first: %d", c.ExitStatus)
	}
	if c := access(l, nil); c.ExitStatus != 503 {
		t.Fatalf("second: %d", c.ExitStatus)
	}
}
