// Package etcd implements store.Store on etcd's clientv3, and runs the embedded etcd server.
package etcd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/sluicegw/sluice/internal/store"
)

// Options configure the client.
type Options struct {
	Endpoints   []string // e.g. http://127.0.0.1:2379
	Username    string
	Password    string
	DialTimeout time.Duration
	TLS         *tls.Config
	Logger      *slog.Logger
}

// Store is a store.Store on an etcd cluster (embedded or external).
type Store struct{}

var _ store.Store = (*Store)(nil)

// New connects to etcd.
func New(ctx context.Context, o Options) (*Store, error) { panic("not implemented") }

func (s *Store) Get(ctx context.Context, key string) (store.KV, error) { panic("not implemented") }
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	panic("not implemented")
}
func (s *Store) Create(ctx context.Context, key string, value []byte, o store.WriteOptions) (store.KV, error) {
	panic("not implemented")
}
func (s *Store) Put(ctx context.Context, key string, value []byte, o store.WriteOptions) (store.KV, bool, error) {
	panic("not implemented")
}
func (s *Store) CompareAndSwap(ctx context.Context, key string, value []byte, modRevision int64, o store.WriteOptions) (store.KV, error) {
	panic("not implemented")
}
func (s *Store) Delete(ctx context.Context, key string) (store.KV, error) { panic("not implemented") }
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	panic("not implemented")
}
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan store.Event {
	panic("not implemented")
}
func (s *Store) Close() error { return nil }

// EmbeddedOptions configure the in-process etcd server.
type EmbeddedOptions struct {
	Dir          string // data directory (created if missing)
	ListenClient string // default http://127.0.0.1:2379
	ListenPeer   string // default http://127.0.0.1:2380
	// UnsafeNoFsync turns fsync off; for tests only.
	UnsafeNoFsync bool
	Logger        *slog.Logger
}

// Embedded is a running in-process etcd server.
type Embedded struct{}

// StartEmbedded starts the server and waits until it serves clients.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	panic("not implemented")
}

// Endpoints returns the client URLs to pass to New.
func (e *Embedded) Endpoints() []string { panic("not implemented") }

// Close stops the server.
func (e *Embedded) Close() error { return nil }
