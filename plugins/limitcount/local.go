package limitcount

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// The local policy's counters: APISIX keeps them in the nginx shared dict plugin-limit-count,
// one per node. Here one counterMap per rule of a plugin identity, sharded so concurrent
// requests only contend when their keys hash to the same shard (no lock shared by all).
//
// A key is stored as its 64-bit maphash, not as a string: no allocation for a new key and no
// pointers for the garbage collector to scan among a million counters. Two keys share a
// counter only on a hash collision (about 3e-8 for a million live keys).

const (
	numShards = 256 // shard() picks one with the hash's top 8 bits
	// MaxKeys bounds the distinct keys one rule of one identity keeps, like the shared dict's
	// fixed size: past it, expired entries are swept and, if still full, arbitrary entries are
	// evicted (their limit restarts, as when nginx's LRU evicts a counter).
	maxKeys     = 2 << 20
	maxPerShard = maxKeys / numShards
	minSweep    = 64
)

// entry is one key's counter. Fixed window: n is the consumed count of the window ending at
// end. Sliding window: n is the current window's count, prev the previous one's, win the
// current window's index. exp is when the entry is useless and may be swept.
type entry struct {
	n, prev int64
	win     int64
	exp     int64 // fixed window: its end
}

type shard struct {
	mu      sync.Mutex
	m       map[uint64]entry
	sweepAt int
	_       [40]byte // keeps neighbouring shards' locks off one cache line
}

// counterMap allocates its shards (16 KiB) on the first request, so ten thousand routes
// with a limit that never sees traffic cost next to nothing.
type counterMap struct {
	seed   maphash.Seed
	shards atomic.Pointer[[numShards]shard]
}

func newCounterMap() *counterMap {
	return &counterMap{seed: maphash.MakeSeed()}
}

func (cm *counterMap) shardArray() *[numShards]shard {
	if s := cm.shards.Load(); s != nil {
		return s
	}
	s := new([numShards]shard)
	for i := range s {
		s[i].m = make(map[uint64]entry)
		s[i].sweepAt = minSweep
	}
	if !cm.shards.CompareAndSwap(nil, s) {
		return cm.shards.Load()
	}
	return s
}

func (cm *counterMap) shard(key []byte) (*shard, uint64) {
	h := maphash.Bytes(cm.seed, key)
	return &cm.shardArray()[h>>56], h // high bits pick the shard, the map hashes all of them again
}

// get returns key h's entry (zero when absent); sh must be locked.
func (sh *shard) get(h uint64, now int64) entry {
	if e, ok := sh.m[h]; ok {
		return e
	}
	if len(sh.m) >= sh.sweepAt {
		sh.sweep(now)
	}
	return entry{}
}

// sweep drops expired entries and, when the shard is still at its bound, arbitrary live ones
// (map iteration order is random). It runs when the shard doubled since the last sweep, so its
// cost is amortized over the inserts that grew it.
func (sh *shard) sweep(now int64) {
	for k, e := range sh.m {
		if e.exp <= now {
			delete(sh.m, k)
		}
	}
	for k := range sh.m {
		if len(sh.m) < maxPerShard {
			break
		}
		delete(sh.m, k)
	}
	sh.sweepAt = max(2*len(sh.m), minSweep)
	if sh.sweepAt > maxPerShard {
		sh.sweepAt = maxPerShard
	}
}

// result of one counting decision.
type result struct {
	allowed   bool
	remaining int64
	// resetNs is the time until the window ends; fullWindow marks the first request of a fixed
	// window, whose Reset header APISIX reports as time_window exactly.
	resetNs    int64
	fullWindow bool
}

// fixed counts cost against key in a fixed window of windowNs starting at the key's first
// request. Rejected requests count too, as APISIX's incr does.
func (cm *counterMap) fixed(key []byte, limit, cost, windowNs, now int64) result {
	sh, h := cm.shard(key)
	sh.mu.Lock()
	e := sh.get(h, now)
	first := e.exp <= now
	if first {
		e.n, e.exp = 0, now+windowNs
	}
	e.n += cost
	sh.m[h] = e
	sh.mu.Unlock()
	n, end := e.n, e.exp
	r := result{allowed: n <= limit, remaining: limit - n, fullWindow: first, resetNs: end - now}
	if r.remaining < 0 {
		r.remaining = 0
	}
	return r
}

// sliding counts key in a sliding window: the previous window's count weighs by the part of
// it still inside the sliding window. A rejected request does not count.
func (cm *counterMap) sliding(key []byte, limit, cost, windowNs, now int64) result {
	win := now / windowNs
	elapsed := now - win*windowNs
	weight := float64(windowNs-elapsed) / float64(windowNs)
	sh, h := cm.shard(key)
	sh.mu.Lock()
	e := sh.get(h, now)
	switch e.win {
	case win:
	case win - 1:
		e.prev, e.n = e.n, 0
	default:
		e.prev, e.n = 0, 0
	}
	e.win = win
	e.exp = (win + 2) * windowNs
	r := slidingDecide(e.n, e.prev, limit, weight)
	if r.allowed {
		e.n += cost
		r.remaining = slidingRemaining(e.n, e.prev, limit, weight)
	}
	sh.m[h] = e
	sh.mu.Unlock()
	r.resetNs = (win+1)*windowNs - now
	return r
}

// slidingDecide is APISIX's check: reject when the current window alone or the estimate
// (prev weighted + current) has reached the limit.
func slidingDecide(cur, prev, limit int64, weight float64) result {
	if cur >= limit || float64(prev)*weight+float64(cur) >= float64(limit) {
		return result{}
	}
	return result{allowed: true}
}

func slidingRemaining(cur, prev, limit int64, weight float64) int64 {
	rem := int64(float64(limit) - float64(cur) - float64(prev)*weight) // floor for positives
	if rem < 0 {
		return 0
	}
	return rem
}

// len counts the entries held (tests, benchmarks).
func (cm *counterMap) len() int {
	n := 0
	shards := cm.shards.Load()
	if shards == nil {
		return 0
	}
	for i := range shards {
		sh := &shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
