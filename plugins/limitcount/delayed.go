package limitcount

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicegw/sluice/plugins/internal/redispolicy"
)

// Delayed sync (sync_interval, APISIX 3.17): with a Redis policy, requests are decided on a
// node-local view of each counter (the count Redis had at the last sync plus what this node
// counted since), and every sync_interval the node pushes its unsynced counts to Redis with
// one atomic script per key and takes back the global count. Requests never wait for Redis;
// the price is that nodes see each other's traffic up to one interval late.

// syncScript adds ARGV[1] to the counter, starting a window of ARGV[2] seconds when the key
// is new, and returns the global count and its PTTL in ms.
var syncScript = redis.NewScript(`
local v = redis.call('incrby', KEYS[1], ARGV[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
  redis.call('expire', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2]) * 1000
end
return {v, ttl}
`)

const syncShards = 64

type syncEntry struct {
	base   int64 // Redis's count at the last sync
	delta  int64 // counted here since
	exp    int64 // window end (unix ns)
	window int64 // seconds
	gen    int64 // bumped when the window restarts locally, so a sync in flight does not apply
}

type delayedSync struct {
	seed   maphash.Seed
	shards [syncShards]struct {
		mu sync.Mutex
		m  map[string]*syncEntry
	}
	client   *redispolicy.Client
	interval time.Duration
	log      *slog.Logger
	stop     chan struct{}
	done     chan struct{}
}

func newDelayedSync(cl *redispolicy.Client, interval time.Duration, log *slog.Logger) *delayedSync {
	d := &delayedSync{seed: maphash.MakeSeed(), client: cl, interval: interval, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := range d.shards {
		d.shards[i].m = map[string]*syncEntry{}
	}
	go d.run()
	return d
}

// incoming counts one request on the local view of key (the full Redis key).
func (d *delayedSync) incoming(key []byte, limit, window, now int64) result {
	sh := &d.shards[maphash.Bytes(d.seed, key)%syncShards]
	sh.mu.Lock()
	e, ok := sh.m[string(key)]
	if !ok {
		e = &syncEntry{}
		sh.m[string(key)] = e
	}
	first := e.exp <= now
	if first {
		*e = syncEntry{exp: now + window*int64(time.Second), window: window, gen: e.gen + 1}
	}
	e.delta++
	n, end := e.base+e.delta, e.exp
	sh.mu.Unlock()
	r := result{allowed: n <= limit, remaining: max(limit-n, 0), fullWindow: first, resetNs: end - now}
	return r
}

// run syncs every interval until close; a panic is logged and ends syncing (requests keep
// being decided locally).
func (d *delayedSync) run() {
	defer close(d.done)
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("panic recovered", "goroutine", "limit-count delayed sync", "panic", r)
		}
	}()
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			d.sync() // hand the last counts over before going away
			return
		case <-t.C:
			d.sync()
		}
	}
}

type pending struct {
	key                string
	delta, window, gen int64
}

func (d *delayedSync) sync() {
	now := time.Now().UnixNano()
	var work []pending
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.exp <= now && e.delta == 0 {
				delete(sh.m, k)
				continue
			}
			work = append(work, pending{k, e.delta, e.window, e.gen})
		}
		sh.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.interval+time.Second)
	defer cancel()
	rdb := d.client.Redis()
	for _, p := range work {
		v, err := syncScript.Run(ctx, rdb, []string{p.key}, p.delta, p.window).Int64Slice()
		if err != nil {
			d.log.Error("failed to sync limit count to redis: "+err.Error(), "key", p.key)
			continue
		}
		sh := &d.shards[maphash.String(d.seed, p.key)%syncShards]
		sh.mu.Lock()
		if e, ok := sh.m[p.key]; ok && e.gen == p.gen {
			e.delta -= p.delta
			e.base = v[0]
			e.exp = time.Now().UnixNano() + v[1]*int64(time.Millisecond)
		}
		sh.mu.Unlock()
	}
}

func (d *delayedSync) close() {
	close(d.stop)
	<-d.done
	d.client.Release()
}
