// Package store is the one interface between Sluice and its configuration storage: the Admin API
// writes through it and the data plane watches it. Keys are absolute (they include the
// configured prefix, e.g. "/apisix/routes/1"); values are APISIX JSON, stored verbatim.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store implementation; test with errors.Is.
var (
	// ErrNotFound: the key does not exist (Get, Delete, CompareAndSwap on a missing key).
	ErrNotFound = errors.New("key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("key already exists")
	// ErrConflict: CompareAndSwap found a different modification revision.
	ErrConflict = errors.New("value changed before overwritten")
	// ErrCompacted: Watch was asked to start at a revision that has been compacted away.
	ErrCompacted = errors.New("required revision has been compacted")
)

// KV is one stored key with its etcd revisions.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64 // revision at which the key was created (APISIX "createdIndex")
	ModRevision    int64 // revision of the last write (APISIX "modifiedIndex")
	Lease          int64 // lease id, 0 when the key has no TTL
}

// WriteOptions tune a write.
type WriteOptions struct {
	// TTL > 0 attaches a lease: the key is deleted by the store once it expires.
	TTL time.Duration
}

// EventType says what an Event carries.
type EventType int

const (
	// EventPut: KV was created or replaced.
	EventPut EventType = iota
	// EventDelete: KV.Key was deleted (KV.Value is empty, KV.ModRevision is the deletion revision).
	EventDelete
	// EventReset: Snapshot holds the complete set of keys under the watched prefix at Revision;
	// everything the receiver knew before is to be forgotten.
	EventReset
)

// Event is one change delivered by Watch.
type Event struct {
	Type     EventType
	KV       KV   // for EventPut and EventDelete
	Snapshot []KV // for EventReset
	Revision int64
}

// Store is a revisioned key-value store with etcd semantics.
//
// Watch contract: Watch(ctx, prefix, rev) delivers, in revision order, every change under prefix
// with revision >= rev. A receiver obtains a consistent start by calling List (which returns the
// store revision the list was read at) and then Watch from that revision + 1. When the store
// cannot continue the stream without a gap — the requested revision was compacted, or the
// connection to the store was lost and the watch could not be resumed — it lists the prefix
// again and delivers one EventReset with the complete set, then continues from there. A watch
// whose server goes silent is detected through progress notifications and re-established the
// same way. The channel is closed only when ctx is cancelled or the Store is closed. Watches on
// an etcd cluster require a leader (a partitioned member does not serve stale events).
type Store interface {
	// Get returns the key or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns every key under prefix, sorted by key, and the revision it was read at.
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	// Create writes the key only if it does not exist yet; ErrExists otherwise.
	Create(ctx context.Context, key string, value []byte, opts WriteOptions) (KV, error)
	// Put writes the key unconditionally; created reports whether it did not exist before.
	Put(ctx context.Context, key string, value []byte, opts WriteOptions) (kv KV, created bool, err error)
	// CompareAndSwap writes the key only if its ModRevision is still modRevision; ErrConflict
	// when it changed, ErrNotFound when it is gone.
	CompareAndSwap(ctx context.Context, key string, value []byte, modRevision int64, opts WriteOptions) (KV, error)
	// Delete removes the key and returns what it held; ErrNotFound when absent.
	Delete(ctx context.Context, key string) (KV, error)
	// DeletePrefix removes every key under prefix and returns how many were removed.
	DeletePrefix(ctx context.Context, prefix string) (int64, error)
	// Watch streams changes under prefix from revision rev (see the contract above).
	Watch(ctx context.Context, prefix string, rev int64) <-chan Event
	// Close releases the client (and stops an embedded server the store owns).
	Close() error
}
