package limitreq

import (
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugins/internal/limitkey"
)

// localStore is one limit-req identity's leaky buckets on this node (APISIX's shared dict
// plugin-limit-req): keyed by the plugin's parent and conf version, so it outlives snapshot
// swaps while the conf is unchanged, and freed when the last instance using it closes.
type localStore struct {
	id      string
	refs    int     // guarded by storesMu
	rate    float64 // milli-requests per second
	burst   float64 // milli-requests
	buckets sync.Map
	janitor sync.Once
	stop    chan struct{}
}

// bucket is one key's leaky bucket; its mutex is only contended by requests with the same key.
type bucket struct {
	mu     sync.Mutex
	excess float64 // milli-requests over the rate, as resty.limit.req keeps it
	last   float64 // ms on clock()
	dead   bool    // swept: a request that loaded it takes a fresh one
}

// stores holds the live identities. It is global on purpose: state shared by key across
// snapshots (APISIX keeps it in a shared dict); only New and Close touch the lock.
var (
	storesMu sync.Mutex
	stores   = map[string]*localStore{}
)

func acquireStore(id string, rate, burst float64) *localStore {
	storesMu.Lock()
	defer storesMu.Unlock()
	s := stores[id]
	if s == nil {
		s = &localStore{id: id, rate: rate, burst: burst, stop: make(chan struct{})}
		stores[id] = s
	}
	s.refs++
	return s
}

func (s *localStore) release() {
	storesMu.Lock()
	defer storesMu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(stores, s.id)
		close(s.stop)
	}
}

var clockBase = time.Now()

// clock is monotonic milliseconds (fractional), as ngx.now()*1000 but never stepping back.
func clock() float64 { return float64(time.Since(clockBase).Nanoseconds()) / 1e6 }

// incoming is resty.limit.req's incoming(key, commit=true): the new excess in milli-requests,
// or rejected (which leaves the bucket as it was).
func (s *localStore) incoming(key []byte, now float64) (excess float64, rejected bool) {
	s.janitor.Do(func() { go s.sweepLoop() })
	for {
		v, ok := s.buckets.Load(limitkey.View(key))
		if !ok {
			v, _ = s.buckets.LoadOrStore(string(key), &bucket{last: math.NaN()})
		}
		b := v.(*bucket)
		b.mu.Lock()
		if b.dead {
			b.mu.Unlock()
			continue
		}
		excess = 0
		if !math.IsNaN(b.last) {
			excess = math.Max(b.excess-s.rate*math.Abs(now-b.last)/1000+1000, 0)
			if excess > s.burst {
				b.mu.Unlock()
				return 0, true
			}
		}
		b.excess, b.last = excess, now
		b.mu.Unlock()
		return excess, false
	}
}

// sweepInterval bounds how long drained buckets of keys that stopped sending stay in memory.
const sweepInterval = 10 * time.Second

func (s *localStore) sweepLoop() {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("limit-req sweeper panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep(clock())
		}
	}
}

// sweep drops the buckets that drained so far that the next request would get excess 0 from
// them too, so dropping one never changes a decision.
func (s *localStore) sweep(now float64) {
	s.buckets.Range(func(k, v any) bool {
		b := v.(*bucket)
		b.mu.Lock()
		if math.IsNaN(b.last) || b.excess+1000-s.rate*(now-b.last)/1000 <= 0 {
			b.dead = true
			s.buckets.CompareAndDelete(k, b)
		}
		b.mu.Unlock()
		return true
	})
}
