package limitconn

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/sluicegw/sluice/plugins/internal/limitkey"
)

// localStore is one limit-conn identity's in-flight counters on this node (APISIX's shared
// dict plugin-limit-conn), keyed by the plugin's parent and conf version so they survive
// snapshot swaps while the conf is unchanged; freed when the last instance closes.
type localStore struct {
	id       string
	refs     int // guarded by storesMu
	counters sync.Map
}

// counter is one key's in-flight count. A counter back at zero is retired (tombstoned and
// removed), so idle keys cost no memory; a request that raced onto a retired one retries.
type counter struct {
	key string
	n   atomic.Int64
}

const tombstone = math.MinInt64 / 2

// stores holds the live identities. Global on purpose: state shared by key across snapshots
// (APISIX keeps it in a shared dict); only New and Close take the lock.
var (
	storesMu sync.Mutex
	stores   = map[string]*localStore{}
)

func acquireStore(id string) *localStore {
	storesMu.Lock()
	defer storesMu.Unlock()
	s := stores[id]
	if s == nil {
		s = &localStore{id: id}
		stores[id] = s
	}
	s.refs++
	return s
}

func (s *localStore) release() {
	storesMu.Lock()
	defer storesMu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(stores, s.id)
	}
}

// incoming is resty.limit.conn's incoming(key, commit=true): the in-flight count including
// this request, or rejected (the increment undone) when it exceeds max+burst.
func (s *localStore) incoming(key []byte, max, burst int64) (int64, *counter, bool) {
	for {
		v, ok := s.counters.Load(limitkey.View(key))
		if !ok {
			k := string(key)
			v, _ = s.counters.LoadOrStore(k, &counter{key: k})
		}
		c := v.(*counter)
		n := c.n.Add(1)
		if n <= 0 { // retired under us
			continue
		}
		if n > max+burst {
			s.leaving(c)
			return n, nil, true
		}
		return n, c, false
	}
}

// leaving is resty.limit.conn's leaving: one in-flight request fewer.
func (s *localStore) leaving(c *counter) {
	if c.n.Add(-1) == 0 && c.n.CompareAndSwap(0, tombstone) {
		s.counters.CompareAndDelete(c.key, c)
	}
}
