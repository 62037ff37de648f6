package redispolicy

import (
	"context"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
)

func ping(t *testing.T, cl *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Redis().Set(ctx, "redispolicy-k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := cl.Redis().Get(ctx, "redispolicy-k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q %v", v, err)
	}
}

func TestSharedAndReleased(t *testing.T) {
	s := redistest.Start(t)
	old := CloseGrace
	CloseGrace = 10 * time.Millisecond
	t.Cleanup(func() { CloseGrace = old })

	base := Shared()
	c := Conf{RedisHost: "127.0.0.1", RedisPort: s.Port}
	a, err := c.Acquire(PolicyRedis)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Acquire(PolicyRedis)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || Shared() != base+1 {
		t.Fatalf("identical settings got different clients (%p %p), shared=%d", a, b, Shared())
	}
	other := Conf{RedisHost: "127.0.0.1", RedisPort: s.Port, RedisDatabase: 1}
	d, err := other.Acquire(PolicyRedis)
	if err != nil {
		t.Fatal(err)
	}
	if d == a {
		t.Fatal("different database shares a client")
	}
	ping(t, a)
	ping(t, d)
	d.Release()
	a.Release()
	ping(t, b) // one reference left: still open
	b.Release()
	deadline := time.Now().Add(5 * time.Second)
	for Shared() != base {
		if time.Now().After(deadline) {
			t.Fatalf("clients not closed after the last Release: %d open", Shared())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := Conf{RedisClusterNodes: cl.Addrs, RedisClusterName: "test"}
	client, err := c.Acquire(PolicyRedisCluster)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Release()
	ping(t, client)
}

func TestSentinel(t *testing.T) {
	m := redistest.Start(t)
	s := redistest.StartSentinel(t, m, "mymaster")
	c := Conf{RedisSentinels: []Sentinel{{Host: "127.0.0.1", Port: s.Port}}, RedisMasterName: "mymaster"}
	client, err := c.Acquire(PolicyRedisSentinel)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Release()
	ping(t, client)
	if v := redistest.MustDo(t, m.Addr, "GET", "redispolicy-k"); v != "v" {
		t.Fatalf("value not on the master: %q", v)
	}
}

func TestRequiredFields(t *testing.T) {
	for _, p := range []string{PolicyRedis, PolicyRedisCluster, PolicyRedisSentinel, "local"} {
		if _, err := (&Conf{}).Acquire(p); err == nil {
			t.Errorf("policy %s with no settings: no error", p)
		}
	}
}
