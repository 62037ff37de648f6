// Package etcd implements store.Store on etcd's clientv3, and runs the embedded etcd server.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"

	"github.com/sluicegw/sluice/internal/store"
)

// Defaults of the client.
const (
	DefaultDialTimeout = 5 * time.Second
	// DefaultProgressInterval: a watch silent this long asks the server for a progress
	// notification; silent for three times this long, it is re-established with a reset.
	DefaultProgressInterval = 10 * time.Second
)

// Options configure the client.
type Options struct {
	Endpoints   []string // e.g. http://127.0.0.1:2379
	Username    string
	Password    string
	DialTimeout time.Duration // 0 means DefaultDialTimeout
	TLS         *tls.Config
	Logger      *slog.Logger
	// ProgressInterval bounds how long a watch may stay silent (see DefaultProgressInterval).
	ProgressInterval time.Duration
	// Server, when set, is stopped by Store.Close after the client: the store owns it.
	Server *Embedded
}

// Store is a store.Store on an etcd cluster (embedded or external).
type Store struct {
	client   *clientv3.Client
	logger   *slog.Logger
	progress time.Duration
	server   *Embedded

	// closed is cancelled by Close; every watch goroutine stops with it. mu orders watch
	// registration against Close's wait.
	mu        sync.Mutex
	closed    context.Context
	close     context.CancelFunc
	watchers  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// New connects to etcd and checks that at least one endpoint answers within DialTimeout (or
// ctx's deadline, if sooner): a gateway pointed at a wrong address fails at start, not later.
func New(ctx context.Context, o Options) (*Store, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dial := o.DialTimeout
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	progress := o.ProgressInterval
	if progress <= 0 {
		progress = DefaultProgressInterval
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: dial,
		// Keepalives notice a dead connection (server killed, network cut) without waiting
		// for the OS's TCP timeout.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Username:             o.Username,
		Password:             o.Password,
		TLS:                  o.TLS,
		// The client's retry warnings would flood the log while etcd is down; the watch
		// loop reports that condition itself, once per retry with backoff.
		Logger: newZapLogger(logger, zapcore.ErrorLevel),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd connect %v: %w", o.Endpoints, err)
	}
	if err := probe(ctx, client, o.Endpoints, dial); err != nil {
		client.Close()
		return nil, err
	}
	closed, cancel := context.WithCancel(context.Background())
	return &Store{
		client:   client,
		logger:   logger.With("component", "store", "store", "etcd"),
		progress: progress,
		server:   o.Server,
		closed:   closed,
		close:    cancel,
	}, nil
}

func probe(ctx context.Context, client *clientv3.Client, endpoints []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, ep := range endpoints {
		_, err := client.Status(ctx, ep)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	return fmt.Errorf("etcd connect: no endpoint answered: %w", errors.Join(errs...))
}

// Client exposes the underlying clientv3 client for what store.Store does not cover
// (compaction in tests, lease inspection, health checks).
func (s *Store) Client() *clientv3.Client { return s.client }

// Get returns the key or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return store.KV{}, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, fmt.Errorf("etcd get %s: %w", key, store.ErrNotFound)
	}
	return toKV(resp.Kvs[0]), nil
}

// List reads every key under prefix in one request, so the result is consistent at the
// returned revision.
func (s *Store) List(ctx context.Context, prefix string) ([]store.KV, int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd list %s: %w", prefix, err)
	}
	kvs := make([]store.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, toKV(kv))
	}
	return kvs, resp.Header.Revision, nil
}

// Create writes the key only if it does not exist; store.ErrExists otherwise.
func (s *Store) Create(ctx context.Context, key string, value []byte, o store.WriteOptions) (store.KV, error) {
	put, lease, err := s.putOp(ctx, key, value, o)
	if err != nil {
		return store.KV{}, fmt.Errorf("etcd create %s: %w", key, err)
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(put).
		Commit()
	if err != nil {
		s.revoke(lease)
		return store.KV{}, fmt.Errorf("etcd create %s: %w", key, err)
	}
	if !resp.Succeeded {
		s.revoke(lease)
		return store.KV{}, fmt.Errorf("etcd create %s: %w", key, store.ErrExists)
	}
	rev := resp.Header.Revision
	return store.KV{Key: key, Value: value, CreateRevision: rev, ModRevision: rev, Lease: int64(lease)}, nil
}

// Put writes the key unconditionally; created reports whether it did not exist before.
func (s *Store) Put(ctx context.Context, key string, value []byte, o store.WriteOptions) (store.KV, bool, error) {
	put, lease, err := s.putOp(ctx, key, value, o)
	if err != nil {
		return store.KV{}, false, fmt.Errorf("etcd put %s: %w", key, err)
	}
	resp, err := s.client.Do(ctx, put)
	if err != nil {
		s.revoke(lease)
		return store.KV{}, false, fmt.Errorf("etcd put %s: %w", key, err)
	}
	kv, created := putResult(key, value, lease, resp.Put().Header.Revision, resp.Put().PrevKv)
	return kv, created, nil
}

// CompareAndSwap writes the key only if its ModRevision is still modRevision.
func (s *Store) CompareAndSwap(ctx context.Context, key string, value []byte, modRevision int64, o store.WriteOptions) (store.KV, error) {
	put, lease, err := s.putOp(ctx, key, value, o)
	if err != nil {
		return store.KV{}, fmt.Errorf("etcd compare-and-swap %s: %w", key, err)
	}
	// A missing key compares as ModRevision 0, so existence is checked too: CAS never creates.
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRevision),
			clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(put).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		s.revoke(lease)
		return store.KV{}, fmt.Errorf("etcd compare-and-swap %s: %w", key, err)
	}
	if !resp.Succeeded {
		s.revoke(lease)
		cause := store.ErrConflict
		if len(resp.Responses) == 0 || len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			cause = store.ErrNotFound
		}
		return store.KV{}, fmt.Errorf("etcd compare-and-swap %s: %w", key, cause)
	}
	kv, _ := putResult(key, value, lease, resp.Header.Revision, resp.Responses[0].GetResponsePut().PrevKv)
	return kv, nil
}

// Delete removes the key and returns what it held; store.ErrNotFound when absent.
func (s *Store) Delete(ctx context.Context, key string) (store.KV, error) {
	resp, err := s.client.Delete(ctx, key, clientv3.WithPrevKV())
	if err != nil {
		return store.KV{}, fmt.Errorf("etcd delete %s: %w", key, err)
	}
	if resp.Deleted == 0 || len(resp.PrevKvs) == 0 {
		return store.KV{}, fmt.Errorf("etcd delete %s: %w", key, store.ErrNotFound)
	}
	return toKV(resp.PrevKvs[0]), nil
}

// DeletePrefix removes every key under prefix. An empty prefix is refused: in etcd it would
// mean every key of the cluster, including other tenants' data.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" {
		return 0, errors.New("etcd delete prefix: empty prefix refused")
	}
	resp, err := s.client.Delete(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("etcd delete prefix %s: %w", prefix, err)
	}
	return resp.Deleted, nil
}

// Close stops every watch, releases the client and stops an owned embedded server.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.close()
		s.mu.Unlock()
		s.watchers.Wait()
		if err := s.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
			s.closeErr = fmt.Errorf("etcd close: %w", err)
		}
		if s.server != nil {
			s.server.Close()
		}
	})
	return s.closeErr
}

// putOp builds the put, granting a lease first when o.TTL asks for one. The caller revokes
// the lease when the write does not happen, so it does not linger until expiry.
func (s *Store) putOp(ctx context.Context, key string, value []byte, o store.WriteOptions) (clientv3.Op, clientv3.LeaseID, error) {
	if o.TTL <= 0 {
		return clientv3.OpPut(key, string(value), clientv3.WithPrevKV()), 0, nil
	}
	// etcd leases have whole seconds; round up so a key never expires before its TTL.
	seconds := int64(math.Ceil(o.TTL.Seconds()))
	lease, err := s.client.Grant(ctx, seconds)
	if err != nil {
		return clientv3.Op{}, 0, fmt.Errorf("grant lease of %ds: %w", seconds, err)
	}
	return clientv3.OpPut(key, string(value), clientv3.WithPrevKV(), clientv3.WithLease(lease.ID)), lease.ID, nil
}

func (s *Store) revoke(lease clientv3.LeaseID) {
	if lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.client.Revoke(ctx, lease); err != nil {
		s.logger.Warn("revoke unused lease", "lease", int64(lease), "error", err)
	}
}

func putResult(key string, value []byte, lease clientv3.LeaseID, rev int64, prev *mvccpb.KeyValue) (store.KV, bool) {
	kv := store.KV{Key: key, Value: value, CreateRevision: rev, ModRevision: rev, Lease: int64(lease)}
	if prev == nil {
		return kv, true
	}
	kv.CreateRevision = prev.CreateRevision
	return kv, false
}

func toKV(kv *mvccpb.KeyValue) store.KV {
	return store.KV{
		Key:            string(kv.Key),
		Value:          kv.Value,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Lease:          kv.Lease,
	}
}
