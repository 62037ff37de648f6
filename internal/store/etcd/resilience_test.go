package etcd_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/etcd"
	"github.com/sluicegw/sluice/internal/store/etcd/etcdtest"
)

// view is what a watch receiver knows: the events applied to the last reset.
type view map[string]string

func (v view) apply(e store.Event) {
	switch e.Type {
	case store.EventPut:
		v[e.KV.Key] = string(e.KV.Value)
	case store.EventDelete:
		delete(v, e.KV.Key)
	case store.EventReset:
		clear(v)
		for _, kv := range e.Snapshot {
			v[kv.Key] = string(kv.Value)
		}
	}
}

// putRetrying writes through a reconnecting client: right after a restart the first attempts
// may fail while the connection comes back.
func putRetrying(t *testing.T, s *etcd.Store, key, value string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, err := s.Put(ctx, key, []byte(value), store.WriteOptions{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("put %s after restart: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitView consumes events until the receiver's view holds want for every key given.
func awaitView(t *testing.T, ch <-chan store.Event, v view, want map[string]string) (resets int) {
	t.Helper()
	for {
		done := true
		for k, val := range want {
			if v[k] != val {
				done = false
			}
		}
		if done {
			return resets
		}
		e := recv(t, ch)
		if e.Type == store.EventReset {
			resets++
		}
		v.apply(e)
	}
}

func TestWatchSurvivesExternalRestart(t *testing.T) {
	s, _, proc := etcdtest.StartExternal(t)
	ctx := ctxT(t)
	const p = "/restart/"
	if _, _, err := s.Put(ctx, p+"a", []byte("1"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	kvs, rev, err := s.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	v := view{}
	v.apply(store.Event{Type: store.EventReset, Snapshot: kvs})
	ch := s.Watch(ctx, p, rev+1)

	steps := []struct {
		name    string
		disrupt func()
		key     string
		compact bool
		// mustReset: the watch cannot have resumed transparently.
		mustReset bool
	}{
		{"kill and restart", func() { proc.Stop(); proc.Start() }, "b", false, false},
		// History compacted right after the restart: a watch that had not resumed yet
		// cannot, and resets.
		{"restart and compact", func() { proc.Stop(); proc.Start() }, "c", true, false},
		// Silent for twice the 3-interval bound: the watch usually gives up the stream and
		// resets; whether it did depends on scheduling, so only convergence is asserted.
		{"down longer than the silence bound", func() {
			proc.Stop()
			time.Sleep(6 * etcdtest.ProgressInterval)
			proc.Start()
		}, "d", false, false},
	}
	for _, st := range steps {
		st.disrupt()
		putRetrying(t, s, p+st.key, st.name)
		if st.compact {
			putRetrying(t, s, p+"a", "2")
			resp, err := s.Client().Get(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Client().Compact(ctx, resp.Header.Revision); err != nil {
				t.Fatal(err)
			}
		}
		resets := awaitView(t, ch, v, map[string]string{p + st.key: st.name})
		t.Logf("%s: %d reset(s)", st.name, resets)
		if st.mustReset && resets == 0 {
			t.Fatalf("%s: change arrived without a reset", st.name)
		}
	}
	// The receiver's view converges on the store's content.
	putRetrying(t, s, p+"z", "last")
	awaitView(t, ch, v, map[string]string{p + "z": "last"})
	kvs, _, err = s.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := view{}
	want.apply(store.Event{Type: store.EventReset, Snapshot: kvs})
	if len(v) != len(want) {
		t.Fatalf("view %v, store %v", v, want)
	}
	for k, val := range want {
		if v[k] != val {
			t.Fatalf("view %v, store %v", v, want)
		}
	}
}

func TestEmbeddedDataSurvivesRestart(t *testing.T) {
	opts := etcdtest.EmbeddedOptions(t)
	opts.UnsafeNoFsync = false // the persistence path as production runs it
	ctx := ctxT(t)

	srv, err := etcd.StartEmbedded(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := etcd.New(ctx, etcd.Options{Endpoints: srv.Endpoints()})
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	written, _, err := s.Put(ctx, "/persist/k", []byte("v"), store.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	srv.Close()

	srv = etcdtest.StartEmbeddedServer(t, opts)
	s2 := etcdtest.Connect(t, srv.Endpoints())
	got, err := s2.Get(ctx, "/persist/k")
	if err != nil || string(got.Value) != "v" || got.ModRevision != written.ModRevision {
		t.Fatalf("after restart: %+v %v, want %+v", got, err, written)
	}
}

func TestStartEmbeddedFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*etcd.EmbeddedOptions)
		want string
	}{
		{"client port in use", func(o *etcd.EmbeddedOptions) { o.ListenClient = "http://" + busy.Addr().String() }, "address already in use"},
		{"peer port in use", func(o *etcd.EmbeddedOptions) { o.ListenPeer = "http://" + busy.Addr().String() }, "address already in use"},
		{"data dir is a file", func(o *etcd.EmbeddedOptions) { o.Dir = file }, "data dir"},
		{"no data dir", func(o *etcd.EmbeddedOptions) { o.Dir = "" }, "data dir is required"},
		{"bad client URL", func(o *etcd.EmbeddedOptions) { o.ListenClient = "127.0.0.1:1" }, "client URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := etcdtest.EmbeddedOptions(t)
			c.edit(&o)
			srv, err := etcd.StartEmbedded(ctxT(t), o)
			if err == nil {
				srv.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name the cause %q", err, c.want)
			}
		})
	}
}

func TestNewFailsWithoutServer(t *testing.T) {
	_, err := etcd.New(context.Background(), etcd.Options{
		Endpoints:   []string{"http://" + etcdtest.FreeAddr(t)},
		DialTimeout: 300 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("connected to nothing")
	}
}

func TestCloseEndsWatches(t *testing.T) {
	_, endpoints := etcdtest.StartEmbedded(t)
	s, err := etcd.New(ctxT(t), etcd.Options{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(context.Background(), "/close/", 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch { // Close waits for the watch goroutines, so this ends
	}
	if _, ok := <-s.Watch(context.Background(), "/close/", 0); ok {
		t.Fatal("watch on a closed store delivered")
	}
}

// An idle stream on a server that never sends periodic notifications stays up: the store asks
// for progress instead of mistaking silence for a dead connection.
func TestIdleWatchIsNotReset(t *testing.T) {
	o := etcdtest.EmbeddedOptions(t)
	o.ProgressNotifyInterval = time.Hour
	srv := etcdtest.StartEmbeddedServer(t, o)
	ctx := ctxT(t)
	s, err := etcd.New(ctx, etcd.Options{Endpoints: srv.Endpoints(), ProgressInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch := s.Watch(ctx, "/idle/", 0)
	time.Sleep(time.Second) // 20 progress intervals of silence
	if _, _, err := s.Put(ctx, "/idle/k", []byte("v"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := describe(recv(t, ch)); got != "put /idle/k=v" {
		t.Fatalf("first event %s, want the put (no reset)", got)
	}
}
