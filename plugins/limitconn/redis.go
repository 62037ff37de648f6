package limitconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicegw/sluice/plugins/internal/redispolicy"
)

// incomingScript takes a slot in the sorted set limit_conn:<counter key>: members are request
// ids scored by their expiry (now + key_ttl), so slots of a node that died expire instead of
// leaking. Expired members are purged first; the reply is the count including this request,
// or -1 when conn+burst slots are taken.
var incomingScript = redis.NewScript(`
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then
  return -1
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
return n + 1
`)

type redisBackend struct {
	client   *redispolicy.Client
	prefix   string // limit_conn:<parent>:<conf version>:
	ttl      string // key_ttl seconds
	idPrefix string // unique per instance, so request ids never collide across nodes
	seq      atomic.Uint64
	// Slots are given back by a worker: the log phase may only enqueue work.
	leaves chan [2]string
	stop   chan struct{}
	log    *slog.Logger
	// closing orders close against leaving: a slot given back after close (a stream
	// session outlives its instance) takes a client of its own instead of the worker's queue.
	closing sync.RWMutex
	closed  bool
	conf    redispolicy.Conf
	policy  string
}

// leaveQueue bounds the slots waiting to be given back; when full, log gives one back itself.
const leaveQueue = 4096

func newRedisBackend(raw []byte, id string, log *slog.Logger) (backend, error) {
	var c struct {
		Policy string `json:"policy"`
		KeyTTL *int   `json:"key_ttl"`
		redispolicy.Conf
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	ttl := 3600
	if c.KeyTTL != nil {
		ttl = *c.KeyTTL
	}
	cl, err := c.Conf.Acquire(c.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", c.Policy, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	b := &redisBackend{
		client:   cl,
		prefix:   "limit_conn:" + id + ":",
		ttl:      strconv.Itoa(ttl),
		idPrefix: hex.EncodeToString(rnd[:]) + "-",
		leaves:   make(chan [2]string, leaveQueue),
		stop:     make(chan struct{}),
		log:      log,
		conf:     c.Conf,
		policy:   c.Policy,
	}
	go b.leaveLoop()
	return b, nil
}

func (b *redisBackend) incoming(key []byte, max, burst int64) (int64, lease, bool, error) {
	rkey := b.prefix + string(key)
	member := b.idPrefix + strconv.FormatUint(b.seq.Add(1), 10)
	now := strconv.FormatFloat(float64(time.Now().UnixMilli())/1000, 'f', 3, 64)
	n, err := incomingScript.Run(context.Background(), b.client.Redis(), []string{rkey},
		now, b.ttl, max+burst, member).Int64()
	if err != nil {
		return 0, lease{}, false, err
	}
	if n < 0 {
		return max + burst + 1, lease{}, true, nil
	}
	return n, lease{rkey: rkey, member: member}, false, nil
}

func (b *redisBackend) leaving(l *lease) {
	b.closing.RLock()
	defer b.closing.RUnlock()
	if b.closed {
		go b.lateZrem(l.rkey, l.member)
		return
	}
	select {
	case b.leaves <- [2]string{l.rkey, l.member}:
	default:
		b.zrem(l.rkey, l.member)
	}
}

// lateZrem gives back a slot after the instance was closed, on a client acquired for it.
func (b *redisBackend) lateZrem(key, member string) {
	cl, err := b.conf.Acquire(b.policy)
	if err != nil {
		b.log.Error("failed to decrease limit conn", "key", key, "error", err)
		return
	}
	defer cl.Release()
	if err := cl.Redis().ZRem(context.Background(), key, member).Err(); err != nil {
		b.log.Error("failed to decrease limit conn", "key", key, "error", err)
	}
}

func (b *redisBackend) zrem(key, member string) {
	if err := b.client.Redis().ZRem(context.Background(), key, member).Err(); err != nil {
		b.log.Error("failed to decrease limit conn", "key", key, "error", err)
	}
}

func (b *redisBackend) leaveLoop() {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("limit-conn leave worker panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	for {
		select {
		case l := <-b.leaves:
			b.zrem(l[0], l[1])
		case <-b.stop:
			for {
				select {
				case l := <-b.leaves:
					b.zrem(l[0], l[1])
				default:
					b.client.Release()
					return
				}
			}
		}
	}
}

// close stops the worker once the queued slots are given back; it then releases the client.
func (b *redisBackend) close() {
	b.closing.Lock()
	defer b.closing.Unlock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
}
