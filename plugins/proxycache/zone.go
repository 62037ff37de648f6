package proxycache

import (
	"hash/maphash"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// nShards splits a zone's index so that concurrent requests for different keys rarely meet
// on one lock; a hit takes only its shard's read lock.
const nShards = 16

// maxVariants bounds the Vary variants kept per key (oldest dropped first), as APISIX does.
const maxVariants = 64

// header is one stored response header; add marks a repeated name (replayed with Add).
type header struct {
	name, value string
	add         bool
}

// entry is one cached response, or a Vary marker naming the request headers that select
// a variant of its key.
type entry struct {
	key      string
	marker   bool
	vary     []string // marker: lower-case, sorted
	variants []string // marker: variant keys, oldest first

	status  int
	headers []header
	stored  int64 // unix ns
	expires int64 // unix ns
	ttl     time.Duration
	body    []byte // memory zones
	path    string // disk zones: the file holding body (offset 0) and the trailer
	bodyLen int64

	size    int64 // bytes charged to the zone (memory: everything; disk: the file)
	meta    int64 // disk zones: bytes the index entry takes in memory
	lastUse atomic.Int64
}

// fill is an upstream request in flight that will store key; other misses on key wait for it.
type fill struct{ done chan struct{} }

type shard struct {
	mu    sync.RWMutex
	items map[string]*entry
	fills map[string]*fill
}

// zone is one apisix.proxy_cache zone: a bounded index of entries whose bodies live in memory
// or in files under disk_path.
type zone struct {
	spec    zoneSpec
	diskTTL time.Duration // disk zones: TTL when the upstream gives none
	levels  []int

	capacity int64 // memory zones: memory_size; disk zones: disk_size
	metaCap  int64 // disk zones: memory_size (the index)
	used     atomic.Int64
	metaUsed atomic.Int64

	seed    maphash.Seed
	shards  [nShards]shard
	evictMu sync.Mutex // one evictor at a time; inserts that find it busy go on
}

func newZone(s zoneSpec, diskTTL time.Duration) (*zone, error) {
	z := &zone{spec: s, diskTTL: diskTTL, seed: maphash.MakeSeed(), capacity: s.MemorySize}
	for i := range z.shards {
		z.shards[i].items = map[string]*entry{}
		z.shards[i].fills = map[string]*fill{}
	}
	if s.disk() {
		lv, err := parseLevels(s.CacheLevels)
		if err != nil {
			return nil, err
		}
		z.levels, z.capacity, z.metaCap = lv, s.DiskSize, s.MemorySize
		if err := z.load(); err != nil {
			return nil, err
		}
	}
	return z, nil
}

func (z *zone) shardOf(key []byte) *shard {
	return &z.shards[maphash.Bytes(z.seed, key)%nShards]
}

func (z *zone) shardOfString(key string) *shard {
	return &z.shards[maphash.String(z.seed, key)%nShards]
}

// beginFill registers the caller as the one request filling key. When another already is,
// it returns that fill to wait on instead.
func (z *zone) beginFill(key string) (f *fill, leader bool) {
	sh := z.shardOfString(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f := sh.fills[key]; f != nil {
		return f, false
	}
	f = &fill{done: make(chan struct{})}
	sh.fills[key] = f
	return f, true
}

// endFill wakes the requests waiting for key's fill (stored or not).
func (z *zone) endFill(key string) {
	sh := z.shardOfString(key)
	sh.mu.Lock()
	f := sh.fills[key]
	delete(sh.fills, key)
	sh.mu.Unlock()
	if f != nil {
		close(f.done)
	}
}

// insert stores e under base (e.key is base or one of its Vary variants). Replaced and
// displaced entries are released. place, when set, runs first under the shard lock (a disk
// fill renames its file into place there, so no eviction of the same path can interleave);
// its error aborts the insert.
func (z *zone) insert(base string, vary []string, e *entry, place func() error) error {
	now := time.Now().UnixNano()
	if e.lastUse.Load() == 0 {
		e.lastUse.Store(now)
	}
	sh := z.shardOfString(base)
	sh.mu.Lock()
	if place != nil {
		if err := place(); err != nil {
			sh.mu.Unlock()
			return err
		}
	}
	if len(vary) == 0 {
		if old := sh.items[base]; old != nil {
			z.dropLocked(sh, old, e.path)
		}
		sh.items[base] = e
	} else {
		m := sh.items[base]
		if m == nil || !m.marker || !slices.Equal(m.vary, vary) {
			if m != nil {
				z.dropLocked(sh, m, e.path)
			}
			m = &entry{key: base, marker: true, vary: vary, size: int64(len(base)) + 64}
			m.lastUse.Store(now)
			sh.items[base] = m
			z.charge(m)
		}
		if old := sh.items[e.key]; old != nil {
			z.dropLocked(sh, old, e.path)
		}
		if i := slices.Index(m.variants, e.key); i >= 0 {
			m.variants = slices.Delete(m.variants, i, i+1)
		}
		m.variants = append(m.variants, e.key)
		if len(m.variants) > maxVariants {
			if old := sh.items[m.variants[0]]; old != nil {
				z.dropLocked(sh, old, e.path)
			}
			m.variants = slices.Delete(m.variants, 0, 1)
		}
		sh.items[e.key] = e
	}
	z.charge(e)
	sh.mu.Unlock()
	z.evict()
	return nil
}

func (z *zone) charge(e *entry) {
	if z.spec.disk() {
		z.metaUsed.Add(e.meta)
	}
	z.used.Add(e.size)
}

// dropLocked removes e (and a marker's variants) from sh. A disk entry's file is removed with
// the shard lock held, so that a fill renaming a new file into the same path cannot lose it;
// keepPath is the path just written, which must stay.
func (z *zone) dropLocked(sh *shard, e *entry, keepPath string) {
	if sh.items[e.key] == e {
		delete(sh.items, e.key)
	}
	if e.marker {
		for _, v := range e.variants {
			if ve := sh.items[v]; ve != nil && !ve.marker {
				z.dropLocked(sh, ve, keepPath)
			}
		}
		e.variants = nil
	}
	z.used.Add(-e.size)
	if z.spec.disk() {
		z.metaUsed.Add(-e.meta)
		if e.path != "" && e.path != keepPath {
			_ = os.Remove(e.path)
		}
	}
}

// purge removes base and its variants; false when nothing was cached under it.
func (z *zone) purge(base []byte) bool {
	sh := z.shardOf(base)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.items[string(base)]
	if e == nil {
		return false
	}
	z.dropLocked(sh, e, "")
	return true
}

// remove drops e if it is still the entry under its key (its file went missing).
func (z *zone) remove(base string, e *entry) {
	sh := z.shardOfString(base)
	sh.mu.Lock()
	if sh.items[e.key] == e {
		z.dropLocked(sh, e, "")
	}
	sh.mu.Unlock()
}

func (z *zone) over() bool {
	return z.used.Load() > z.capacity || z.metaCap > 0 && z.metaUsed.Load() > z.metaCap
}

// evict drops entries until the zone is within its bounds. It approximates LRU the way Redis
// does: sample a few entries of a random shard and drop the least recently used (an expired
// one first), so no request ever walks or reorders a global list.
func (z *zone) evict() {
	if !z.over() || !z.evictMu.TryLock() {
		return
	}
	defer z.evictMu.Unlock()
	now := time.Now().UnixNano()
	for tries := 0; z.over() && tries < 100000; tries++ {
		sh := &z.shards[rand.IntN(nShards)]
		sh.mu.Lock()
		var victim *entry
		n := 0
		for _, e := range sh.items {
			if e.marker && len(e.variants) > 0 {
				continue // goes with its variants
			}
			if victim == nil || better(e, victim, now) {
				victim = e
			}
			if n++; n == 5 {
				break
			}
		}
		if victim != nil {
			z.dropLocked(sh, victim, "")
		}
		sh.mu.Unlock()
	}
}

// better reports whether a is a better eviction victim than b.
func better(a, b *entry, now int64) bool {
	ae, be := !a.marker && a.expires <= now, !b.marker && b.expires <= now
	if ae != be {
		return ae
	}
	return a.lastUse.Load() < b.lastUse.Load()
}

func (z *zone) count() int {
	n := 0
	for i := range z.shards {
		sh := &z.shards[i]
		sh.mu.RLock()
		n += len(sh.items)
		sh.mu.RUnlock()
	}
	return n
}

// close drops memory entries; a disk zone's files stay for the next start.
func (z *zone) close() {
	if z.spec.disk() {
		return
	}
	for i := range z.shards {
		sh := &z.shards[i]
		sh.mu.Lock()
		sh.items = map[string]*entry{}
		sh.mu.Unlock()
	}
	z.used.Store(0)
}
