package prometheus

import (
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// A part is the labelled children of one metric family for one label set: the http_status
// counter, the three http_latency histograms (type request/upstream/apisix) or the two
// bandwidth counters (ingress/egress). Parts are owned by the node's shared state; instances
// reference them from their caches and the shared state counts the references, so a series
// is deleted exactly when nothing can record into it any more (its route is gone) or when it
// expired.
type part struct {
	fam    family
	key    string   // values joined by 0 bytes
	values []string // label values without the leading "type"

	// Guarded by shared.mu.
	refs  int    // instance cache entries holding this part
	owner string // Env.Parent of the instance that last took a reference

	dead atomic.Bool  // deleted from its vector: recording into it would be lost
	last atomic.Int64 // unix seconds of the last update, for expire

	count prometheus.Counter      // famStatus
	obs   [2]prometheus.Observer  // famLatency: request, apisix
	up    atomic.Pointer[upChild] // famLatency: upstream, created on first proxied request
	bw    [2]prometheus.Counter   // famBandwidth: ingress, egress
}

// upChild boxes the lazily created upstream histogram: APISIX only creates that series once a
// request was proxied.
type upChild struct{ o prometheus.Observer }

// touch records that the part was updated at sec; the store is skipped within one second so
// concurrent requests mostly only read the cache line.
func (p *part) touch(sec int64) {
	if p.last.Load() != sec {
		p.last.Store(sec)
	}
}

// upstream returns the upstream latency histogram, creating the series on first use.
func (p *part) upstream(vec *prometheus.HistogramVec) prometheus.Observer {
	if u := p.up.Load(); u != nil {
		return u.o
	}
	u := &upChild{o: vec.WithLabelValues(withType("upstream", p.values)...)}
	p.up.Store(u) // a racing creator stores the same child: WithLabelValues is idempotent
	return u.o
}

func withType(typ string, values []string) []string {
	return append([]string{typ}, values...)
}

// An entry is what an instance's cache holds for one request label combination.
type entry struct {
	parts [numFamilies]*part
	// dead is set when one of the parts expired; the next request builds a fresh entry.
	dead atomic.Bool
}

// seriesCache maps a request's raw label key to its entry. Reads are one map lookup on an
// immutable map (no lock, no allocation); misses and updates run under shared.mu and promote
// the dirty map once it has been missed as often as it is large, as sync.Map does, so filling
// the cache costs amortized O(1) per new key.
type seriesCache struct {
	read atomic.Pointer[map[string]*entry]
	// Guarded by shared.mu.
	dirty  map[string]*entry // nil, or a superset of *read
	misses int
}

func (c *seriesCache) load(key []byte) *entry {
	if m := c.read.Load(); m != nil {
		return (*m)[string(key)] // string(key) in a map index does not allocate
	}
	return nil
}

// lockedLoad looks key up in read and dirty, counting a miss. Caller holds shared.mu.
func (c *seriesCache) lockedLoad(key []byte) *entry {
	if m := c.read.Load(); m != nil {
		if e := (*m)[string(key)]; e != nil && !e.dead.Load() {
			return e
		}
	}
	if c.dirty == nil {
		return nil
	}
	e := c.dirty[string(key)]
	if e != nil && !e.dead.Load() {
		c.missed()
		return e
	}
	return nil
}

// store adds key's entry (replacing a dead one, already released by the sweep that killed
// it). Caller holds shared.mu.
func (c *seriesCache) store(key string, e *entry) {
	if c.dirty == nil {
		c.dirty = make(map[string]*entry)
		if m := c.read.Load(); m != nil {
			for k, v := range *m {
				c.dirty[k] = v
			}
		}
	}
	c.dirty[key] = e
	c.missed()
}

func (c *seriesCache) missed() {
	c.misses++
	if c.misses >= len(c.dirty) {
		m := c.dirty
		c.read.Store(&m)
		c.dirty, c.misses = nil, 0
	}
}

// all visits every live entry. Caller holds shared.mu.
func (c *seriesCache) all(fn func(key string, e *entry)) {
	m := c.dirty
	if m == nil {
		if r := c.read.Load(); r != nil {
			m = *r
		}
	}
	for k, e := range m {
		fn(k, e)
	}
}

// replace swaps in m as the complete cache. Caller holds shared.mu.
func (c *seriesCache) replace(m map[string]*entry) {
	c.read.Store(&m)
	c.dirty, c.misses = nil, 0
}

func joinKey(values []string) string { return strings.Join(values, "\x00") }
