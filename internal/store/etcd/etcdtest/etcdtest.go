// Package etcdtest starts etcd servers for tests: the embedded one, or Debian's etcd binary as
// an external process that a test can kill and restart. Every server and store is cleaned up
// through t.Cleanup, on free ports, so tests can run in parallel.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/store/etcd"
	"github.com/sluicegw/sluice/internal/testport"
)

// ProgressInterval is the watch silence bound of stores made here: short, so tests that
// break the connection see the watch recover in seconds.
const ProgressInterval = 500 * time.Millisecond

// startTimeout bounds how long a test waits for a server to come up.
const startTimeout = 30 * time.Second

// StartEmbedded starts an embedded etcd (temp dir, no fsync, free ports) and returns a store
// connected to it; the store owns the server and both are closed at cleanup.
func StartEmbedded(t testing.TB) (*etcd.Store, []string) {
	t.Helper()
	srv := StartEmbeddedServer(t, EmbeddedOptions(t))
	s := Connect(t, srv.Endpoints())
	return s, srv.Endpoints()
}

// EmbeddedOptions returns options for a test server: a fresh temp dir, free client and peer
// ports, fsync off, fast progress notifications.
func EmbeddedOptions(t testing.TB) etcd.EmbeddedOptions {
	t.Helper()
	return etcd.EmbeddedOptions{
		Dir:                    t.TempDir(),
		ListenClient:           "http://" + FreeAddr(t),
		ListenPeer:             "http://" + FreeAddr(t),
		UnsafeNoFsync:          true,
		ProgressNotifyInterval: ProgressInterval,
	}
}

// StartEmbeddedServer starts an embedded server with o (e.g. from EmbeddedOptions, or the same
// options again to restart on the same data dir) and closes it at cleanup.
func StartEmbeddedServer(t testing.TB, o etcd.EmbeddedOptions) *etcd.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := etcd.StartEmbedded(ctx, o)
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// Connect returns a store on endpoints with ProgressInterval as its watch silence bound,
// closed at cleanup.
func Connect(t testing.TB, endpoints []string) *etcd.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := etcd.New(ctx, etcd.Options{
		Endpoints:        endpoints,
		DialTimeout:      5 * time.Second,
		ProgressInterval: ProgressInterval,
	})
	if err != nil {
		t.Fatalf("connect to etcd %v: %v", endpoints, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// FreeAddr returns a 127.0.0.1:port that this process has not handed out before (a server's
// client and peer URLs must differ; see testport).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testport.Free(t)))
}

func waitUntil(ctx context.Context, check func(context.Context) error) error {
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
