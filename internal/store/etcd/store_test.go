package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/etcd"
	"github.com/sluicegw/sluice/internal/store/etcd/etcdtest"
)

// backends are the servers every behaviour test runs against.
var backends = []struct {
	name  string
	start func(t testing.TB) *etcd.Store
}{
	{"embedded", func(t testing.TB) *etcd.Store { s, _ := etcdtest.StartEmbedded(t); return s }},
	{"external", func(t testing.TB) *etcd.Store { s, _, _ := etcdtest.StartExternal(t); return s }},
}

// behaviours each get a fresh prefix on a server shared by the backend's run.
var behaviours = []struct {
	name string
	run  func(t *testing.T, s *etcd.Store, prefix string)
}{
	{"create twice is ErrExists", testCreateTwice},
	{"put reports created", testPutCreated},
	{"compare-and-swap", testCompareAndSwap},
	{"delete", testDelete},
	{"delete prefix", testDeletePrefix},
	{"list is sorted and scoped", testList},
	{"ttl key expires", testTTL},
	{"watch from list revision", testWatchFromList},
	{"watch from compacted revision resets", testWatchCompacted},
	{"watch closes with its context", testWatchCancel},
}

func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			for i, bh := range behaviours {
				t.Run(bh.name, func(t *testing.T) {
					bh.run(t, s, fmt.Sprintf("/sluice-test/%d/", i))
				})
			}
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testCreateTwice(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	kv, err := s.Create(ctx, p+"a", []byte("1"), store.WriteOptions{})
	if err != nil {
		t.Fatalf("first create: %v", err)
	}
	if kv.CreateRevision == 0 || kv.ModRevision != kv.CreateRevision || string(kv.Value) != "1" {
		t.Fatalf("first create returned %+v", kv)
	}
	_, err = s.Create(ctx, p+"a", []byte("2"), store.WriteOptions{})
	if !errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), p+"a") {
		t.Fatalf("second create: got %v, want ErrExists naming the key", err)
	}
	got, err := s.Get(ctx, p+"a")
	if err != nil || string(got.Value) != "1" || got.ModRevision != kv.ModRevision {
		t.Fatalf("get after failed create: %+v, %v; want the first value", got, err)
	}
}

func testPutCreated(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	first, created, err := s.Put(ctx, p+"k", []byte("v1"), store.WriteOptions{})
	if err != nil || !created {
		t.Fatalf("first put: created=%v err=%v, want created", created, err)
	}
	second, created, err := s.Put(ctx, p+"k", []byte("v2"), store.WriteOptions{})
	if err != nil || created {
		t.Fatalf("second put: created=%v err=%v, want replaced", created, err)
	}
	if second.CreateRevision != first.CreateRevision || second.ModRevision <= first.ModRevision {
		t.Fatalf("revisions: first %+v second %+v", first, second)
	}
	got, err := s.Get(ctx, p+"k")
	if err != nil || string(got.Value) != "v2" || got.ModRevision != second.ModRevision || got.CreateRevision != first.CreateRevision {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Get(ctx, p+"missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
}

func testCompareAndSwap(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	kv, err := s.Create(ctx, p+"k", []byte("v1"), store.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := s.CompareAndSwap(ctx, p+"k", []byte("v2"), kv.ModRevision, store.WriteOptions{})
	if err != nil || swapped.ModRevision <= kv.ModRevision || swapped.CreateRevision != kv.CreateRevision {
		t.Fatalf("cas with current revision: %+v %v", swapped, err)
	}
	cases := []struct {
		name string
		key  string
		rev  int64
		want error
	}{
		{"stale revision", p + "k", kv.ModRevision, store.ErrConflict},
		{"missing key", p + "missing", kv.ModRevision, store.ErrNotFound},
		{"missing key at revision 0 is not created", p + "missing", 0, store.ErrNotFound},
	}
	for _, c := range cases {
		_, err := s.CompareAndSwap(ctx, c.key, []byte("x"), c.rev, store.WriteOptions{})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	got, err := s.Get(ctx, p+"k")
	if err != nil || string(got.Value) != "v2" {
		t.Fatalf("after failed swaps: %+v %v, want v2", got, err)
	}
	if _, err := s.Get(ctx, p+"missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cas created a missing key: %v", err)
	}
}

func testDelete(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	if _, err := s.Delete(ctx, p+"k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing: %v, want ErrNotFound", err)
	}
	kv, _, err := s.Put(ctx, p+"k", []byte("v"), store.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.Delete(ctx, p+"k")
	if err != nil || string(old.Value) != "v" || old.ModRevision != kv.ModRevision || old.Key != p+"k" {
		t.Fatalf("delete: %+v %v, want the previous value", old, err)
	}
	if _, err := s.Get(ctx, p+"k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func testDeletePrefix(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	for _, k := range []string{"a/1", "a/2", "b/1"} {
		if _, _, err := s.Put(ctx, p+k, []byte("v"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeletePrefix(ctx, p+"a/")
	if err != nil || n != 2 {
		t.Fatalf("delete prefix: n=%d err=%v, want 2", n, err)
	}
	kvs, _, err := s.List(ctx, p)
	if err != nil || len(kvs) != 1 || kvs[0].Key != p+"b/1" {
		t.Fatalf("left: %+v %v", kvs, err)
	}
	if _, err := s.DeletePrefix(ctx, ""); err == nil {
		t.Fatal("empty prefix accepted")
	}
}

func testList(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	var last int64
	for _, k := range []string{"c", "a", "b"} {
		kv, _, err := s.Put(ctx, p+"in/"+k, []byte(k), store.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = kv.ModRevision
	}
	if _, _, err := s.Put(ctx, p+"out", []byte("x"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	kvs, rev, err := s.List(ctx, p+"in/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, strings.TrimPrefix(kv.Key, p+"in/")+"="+string(kv.Value))
	}
	if strings.Join(keys, ",") != "a=a,b=b,c=c" {
		t.Fatalf("list: %v", keys)
	}
	if rev <= last {
		t.Fatalf("list revision %d not after the last write %d", rev, last)
	}
	empty, _, err := s.List(ctx, p+"nothing/")
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty list: %v %v", empty, err)
	}
}

func testTTL(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	kv, _, err := s.Put(ctx, p+"ttl", []byte("v"), store.WriteOptions{TTL: time.Second})
	if err != nil || kv.Lease == 0 {
		t.Fatalf("put with ttl: %+v %v, want a lease", kv, err)
	}
	if got, err := s.Get(ctx, p+"ttl"); err != nil || got.Lease != kv.Lease {
		t.Fatalf("get right after put: %+v %v", got, err)
	}
	created, err := s.Create(ctx, p+"ttl-create", []byte("v"), store.WriteOptions{TTL: time.Second})
	if err != nil || created.Lease == 0 {
		t.Fatalf("create with ttl: %+v %v", created, err)
	}
	for _, key := range []string{p + "ttl", p + "ttl-create"} {
		waitFor(t, 15*time.Second, key+" expired", func() bool {
			_, err := s.Get(ctx, key)
			return errors.Is(err, store.ErrNotFound)
		})
	}
}

func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %s", what, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recv returns the next event, failing the test when none arrives in a generous bound.
func recv(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event")
	}
	return store.Event{}
}

func describe(e store.Event) string {
	switch e.Type {
	case store.EventPut:
		return fmt.Sprintf("put %s=%s", e.KV.Key, e.KV.Value)
	case store.EventDelete:
		return "delete " + e.KV.Key
	default:
		var keys []string
		for _, kv := range e.Snapshot {
			keys = append(keys, kv.Key+"="+string(kv.Value))
		}
		return "reset [" + strings.Join(keys, " ") + "]"
	}
}

func testWatchFromList(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	if _, _, err := s.Put(ctx, p+"before", []byte("0"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, p, rev+1)
	var revs []int64
	steps := []struct {
		write func() (int64, error)
		want  string
	}{
		{func() (int64, error) {
			kv, _, err := s.Put(ctx, p+"a", []byte("1"), store.WriteOptions{})
			return kv.ModRevision, err
		}, "put " + p + "a=1"},
		{func() (int64, error) {
			kv, err := s.Create(ctx, p+"b", []byte("2"), store.WriteOptions{})
			return kv.ModRevision, err
		}, "put " + p + "b=2"},
		{func() (int64, error) {
			kv, _, err := s.Put(ctx, p+"a", []byte("3"), store.WriteOptions{})
			return kv.ModRevision, err
		}, "put " + p + "a=3"},
		{func() (int64, error) { _, err := s.Delete(ctx, p+"before"); return 0, err }, "delete " + p + "before"},
	}
	for _, st := range steps {
		r, err := st.write()
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r)
	}
	if _, _, err := s.Put(ctx, "/elsewhere/x", []byte("x"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var prev int64
	for i, st := range steps {
		e := recv(t, ch)
		if got := describe(e); got != st.want {
			t.Fatalf("event %d: %s, want %s", i, got, st.want)
		}
		if e.Revision <= prev || (revs[i] != 0 && e.Revision != revs[i]) {
			t.Fatalf("event %d revision %d (previous %d, write %d)", i, e.Revision, prev, revs[i])
		}
		prev = e.Revision
	}
}

func testWatchCompacted(t *testing.T, s *etcd.Store, p string) {
	ctx := ctxT(t)
	start, _, err := s.Put(ctx, p+"a", []byte("1"), store.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ k, v string }{{"b", "2"}, {"a", "3"}} {
		if _, _, err := s.Put(ctx, p+w.k, []byte(w.v), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, rev, err := s.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, p, start.ModRevision)
	e := recv(t, ch)
	want := "reset [" + p + "a=3 " + p + "b=2]"
	if got := describe(e); got != want || e.Revision < rev {
		t.Fatalf("first event: %s at %d, want %s at >= %d", got, e.Revision, want, rev)
	}
	// The watch continues after the reset.
	if _, _, err := s.Put(ctx, p+"c", []byte("4"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := describe(recv(t, ch)); got != "put "+p+"c=4" {
		t.Fatalf("after reset: %s", got)
	}
}

func testWatchCancel(t *testing.T, s *etcd.Store, p string) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx, p, 0)
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}
