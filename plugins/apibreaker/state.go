package apibreaker

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// APISIX keeps the breaker's counters in the node-wide shared dict `plugin-api-breaker`, keyed
// by `$host$uri` alone: every route and conf serving the same host and path shares them, and
// they survive any config change. Sluice does the same with one node-wide store, held by the
// live instances through a reference count, so it outlives snapshot swaps (the new instance is
// built before the old one is closed) and is dropped when the last instance is closed.

const (
	shardCount = 64
	// shardCap bounds a shard as the shared dict's fixed size does (APISIX evicts by LRU):
	// a client probing many failing paths cannot grow the store without limit.
	shardCap = 1024
)

// entry is one `$host$uri`'s three shared-dict keys. Fields are atomics so the request path
// reads them after a shard read-lock has found the entry.
type entry struct {
	unhealthy atomic.Int64 // unhealthy-<host><uri>: failures seen
	healthy   atomic.Int64 // healthy-<host><uri>: successes since the last failure
	// unhealthy-lasttime<host><uri>: when the breaker last tripped (unix seconds) and when that
	// key expires (unix nanoseconds; it is set with a TTL of max_breaker_sec). 0: absent.
	lastTrip   atomic.Int64
	lastExpiry atomic.Int64
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*entry
}

// store is the node-wide breaker state.
type store struct {
	seed   maphash.Seed
	shards [shardCount]shard
	// entries lets the request path skip hashing and locking while nothing has failed.
	entries atomic.Int64
	now     func() time.Time // the clock; tests replace it
}

func newStore() *store {
	return &store{seed: maphash.MakeSeed(), now: time.Now}
}

func (s *store) shard(key []byte) *shard {
	return &s.shards[maphash.Bytes(s.seed, key)%shardCount]
}

// get returns key's entry, nil when absent. It does not allocate.
func (s *store) get(key []byte) *entry {
	if s.entries.Load() == 0 {
		return nil
	}
	sh := s.shard(key)
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	return e
}

// getOrCreate returns key's entry, creating it (and evicting one when the shard is full).
func (s *store) getOrCreate(key []byte) *entry {
	sh := s.shard(key)
	sh.mu.RLock()
	e := sh.m[string(key)]
	sh.mu.RUnlock()
	if e != nil {
		return e
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e = sh.m[string(key)]; e != nil {
		return e
	}
	if sh.m == nil {
		sh.m = make(map[string]*entry)
	}
	if len(sh.m) >= shardCap {
		s.evictLocked(sh)
	}
	e = &entry{}
	sh.m[string(key)] = e
	s.entries.Add(1)
	return e
}

// evictLocked drops one entry of a full shard, preferring one whose breaker is not open.
// Map iteration order is random, so this approximates the shared dict's LRU eviction.
func (s *store) evictLocked(sh *shard) {
	now := s.now().UnixNano()
	var victim string
	found := false
	scanned := 0
	for k, e := range sh.m {
		if !found {
			victim, found = k, true
		}
		if exp := e.lastExpiry.Load(); exp == 0 || exp <= now {
			victim = k
			break
		}
		if scanned++; scanned >= 16 {
			break
		}
	}
	if found {
		delete(sh.m, victim)
		s.entries.Add(-1)
	}
}

// remove deletes key's entry if it is still e (the breaker closed).
func (s *store) remove(key []byte, e *entry) {
	sh := s.shard(key)
	sh.mu.Lock()
	if sh.m[string(key)] == e {
		delete(sh.m, string(key))
		s.entries.Add(-1)
	}
	sh.mu.Unlock()
}

// The node-wide store and how many instances hold it. Only New and Close touch this, never a
// request.
var shared struct {
	mu   sync.Mutex
	s    *store
	refs int
}

func acquireStore() *store {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.s == nil {
		shared.s = newStore()
	}
	shared.refs++
	return shared.s
}

func releaseStore(s *store) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.s != s {
		return
	}
	if shared.refs--; shared.refs <= 0 {
		// In-flight requests of a closed instance keep their pointer; the next New starts
		// with fresh counters, as APISIX after a restart.
		shared.s, shared.refs = nil, 0
	}
}
