package limitconn

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
	conf := fmt.Sprintf(`{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_code":429,
		"policy":"redis","redis_host":"127.0.0.1","redis_port":%d,"key_ttl":60}`, s.Port)
	// Two instances of one identity stand for two nodes sharing the Redis.
	a := newInst(t, "/apisix/routes/c1", conf)
	b := newInst(t, "/apisix/routes/c1", conf)
	held := access(a, nil)
	if held.Exited() {
		t.Fatalf("first rejected: %d", held.ExitStatus)
	}
	if c := access(b, nil); c.ExitStatus != 429 {
		t.Fatalf("second node while one in flight: %d", c.ExitStatus)
	}
	keys := redistest.MustDo(t, s.Addr, "KEYS", "limit_conn:*")
	if !strings.HasPrefix(keys, "limit_conn:/apisix/routes/c1:") || !strings.HasSuffix(keys, ":127.0.0.1") {
		t.Fatalf("keys %q", keys)
	}
	if n := redistest.MustDo(t, s.Addr, "ZCARD", keys); n != "1" {
		t.Fatalf("zcard %s", n)
	}
	a.Log(held)
	deadline := time.Now().Add(5 * time.Second)
	for redistest.MustDo(t, s.Addr, "ZCARD", keys) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("slot not given back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := access(b, nil)
	if c.Exited() {
		t.Fatalf("after release: %d", c.ExitStatus)
	}
	b.Log(c)
}

func TestRedisExpiredSlots(t *testing.T) {
	s := redistest.Start(t)
	conf := fmt.Sprintf(`{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr",
		"policy":"redis","redis_host":"127.0.0.1","redis_port":%d,"key_ttl":1}`, s.Port)
	l := newInst(t, "/apisix/routes/exp", conf)
	access(l, nil) // never logged: a node that died mid-request
	if c := access(l, nil); c.ExitStatus != 503 {
		t.Fatalf("slot not held: %d", c.ExitStatus)
	}
	time.Sleep(1100 * time.Millisecond)
	if c := access(l, nil); c.Exited() {
		t.Fatalf("expired slot still counted: %d", c.ExitStatus)
	}
}

func TestRedisDown(t *testing.T) {
	s := redistest.Start(t)
	s.Stop()
	conf := `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","redis_port":%d%s}`
	l := newInst(t, "/apisix/routes/down", fmt.Sprintf(conf, s.Port, ""))
	if c := access(l, nil); c.ExitStatus != 500 || c.ExitBody != nil {
		t.Fatalf("backend error: %d %q", c.ExitStatus, c.ExitBody)
	}
	dg := newInst(t, "/apisix/routes/down2", fmt.Sprintf(conf, s.Port, `,"allow_degradation":true`))
	if c := access(dg, nil); c.Exited() {
		t.Fatalf("allow_degradation: %d", c.ExitStatus)
	}
}

func TestRedisClusterPolicy(t *testing.T) {
	cl := redistest.StartCluster(t)
	nodes, _ := json.Marshal(cl.Addrs)
	l := newInst(t, "/apisix/routes/cluster", fmt.Sprintf(`{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr",
		"policy":"redis-cluster","redis_cluster_nodes":%s,"redis_cluster_name":"test"}`, nodes))
	a := access(l, nil)
	if a.Exited() {
		t.Fatalf("first: %d", a.ExitStatus)
	}
	if c := access(l, nil); c.ExitStatus != 503 {
		t.Fatalf("second in flight: %d", c.ExitStatus)
	}
	l.Log(a)
}

// TestRedisLeavingAfterClose: a slot given back after its instance was closed (a stream
// session outlives the snapshot that compiled it) still leaves the sorted set.
func TestRedisLeavingAfterClose(t *testing.T) {
	s := redistest.Start(t)
	conf := fmt.Sprintf(`{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr",
		"policy":"redis","redis_host":"127.0.0.1","redis_port":%d,"key_ttl":60}`, s.Port)
	l := newInst(t, "/apisix/routes/late", conf)
	held := access(l, nil)
	if held.Exited() {
		t.Fatalf("first rejected: %d", held.ExitStatus)
	}
	keys := redistest.MustDo(t, s.Addr, "KEYS", "limit_conn:*")
	l.Close()
	l.Log(held)
	deadline := time.Now().Add(5 * time.Second)
	for redistest.MustDo(t, s.Addr, "ZCARD", keys) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("slot given back after Close never left Redis")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
