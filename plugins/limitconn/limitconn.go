// Package limitconn implements APISIX's limit-conn plugin: it counts a key's requests in
// flight (incremented in access, decremented in log, which runs for every request, also one
// another plugin ended), delays those over `conn` while within `burst` and rejects beyond.
// Counters live on this node (policy local) or in Redis (redis, redis-cluster) as a sorted set
// of request ids with an expiry, so a node that dies does not leak slots forever.
package limitconn

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limitkey"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// APISIX's if/then/else on policy relies on its validator injecting the `local` default first; the
// `if` here also requires `policy`, so a validator that does not inject defaults reads an absent
// policy as local too. The stream variant's narrower schema (conn, burst, default_conn_delay, key;
// no redis, no rules) is not registered separately: Definition carries one schema.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "limit-conn",
		Priority:       1003,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password"},
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 1003,
		New:            New,
	})
}

type config struct {
	Conn                json.RawMessage `json:"conn"`
	Burst               json.RawMessage `json:"burst"`
	DefaultConnDelay    float64         `json:"default_conn_delay"`
	OnlyUseDefaultDelay bool            `json:"only_use_default_delay"`
	Key                 string          `json:"key"`
	KeyType             string          `json:"key_type"`
	Rules               []struct {
		Conn  json.RawMessage `json:"conn"`
		Burst json.RawMessage `json:"burst"`
		Key   string          `json:"key"`
	} `json:"rules"`
	Policy           string  `json:"policy"`
	RejectedCode     *int    `json:"rejected_code"`
	RejectedMsg      *string `json:"rejected_msg"`
	AllowDegradation bool    `json:"allow_degradation"`
}

// amount is conn or burst: a number, or a `$var` template resolved per request.
type amount struct {
	n    int64
	tmpl *vartemplate.Template
}

func newAmount(raw json.RawMessage, what string) (amount, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return amount{}, fmt.Errorf("%s is required", what)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return amount{}, fmt.Errorf("%s: %w", what, err)
		}
		return amount{tmpl: vartemplate.Compile(s)}, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return amount{}, fmt.Errorf("%s: %w", what, err)
	}
	return amount{n: int64(f)}, nil
}

// resolve yields the amount for the request; false when a template does not render an
// integer of at least min (the rule is then skipped, as APISIX does).
func (a *amount) resolve(c plugin.Vars, min int64) (int64, bool) {
	if a.tmpl == nil {
		return a.n, true
	}
	bp := limitkey.Bufs.Get().(*[]byte)
	s, _ := a.tmpl.Append((*bp)[:0], c)
	f, err := strconv.ParseFloat(limitkey.View(s), 64)
	*bp = s[:0]
	limitkey.Bufs.Put(bp)
	if err != nil || f != math.Trunc(f) || f < float64(min) || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// rule is one counter a request takes a slot of.
type rule struct {
	conn, burst amount
	key         limitkey.Source
	strictKey   *vartemplate.Template // rules mode: the key template; nothing resolved skips the rule
}

func (r *rule) appendKey(dst []byte, c plugin.Vars) ([]byte, bool) {
	if r.strictKey != nil {
		out, n := r.strictKey.Append(dst, c)
		return out, n > 0
	}
	return r.key.AppendRaw(dst, c), true
}

// backend counts in-flight requests per key.
type backend interface {
	// incoming takes a slot: the in-flight count including this request, or rejected.
	incoming(key []byte, max, burst int64) (n int64, l lease, rejected bool, err error)
	leaving(l *lease)
	close()
}

// lease is a slot a request holds until its log phase.
type lease struct {
	ctr    *counter // local
	rkey   string   // redis: sorted set and member
	member string
	delay  time.Duration
}

// LimitConn is one compiled limit-conn conf.
type LimitConn struct {
	rules        []rule
	onlyDefault  bool
	degrade      bool
	rejectedCode int
	rejectedBody []byte
	backend      backend
	// unitDelay is resty.limit.conn's unit_delay (float64 seconds bits): default_conn_delay,
	// then averaged with each request's latency unless only_use_default_delay.
	unitDelay atomic.Uint64
	log       *slog.Logger
}

// held is what one request holds between access and log.
type held struct{ leases []lease }

var heldPool = sync.Pool{New: func() any { return &held{leases: make([]lease, 0, 2)} }}

// New compiles a limit-conn conf; counters are keyed by the conf's parent and version.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := config{KeyType: "var", Policy: "local"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("limit-conn: %w", err)
	}
	if c.DefaultConnDelay <= 0 {
		return nil, fmt.Errorf("limit-conn: default_conn_delay must be greater than 0")
	}
	l := &LimitConn{
		onlyDefault:  c.OnlyUseDefaultDelay,
		degrade:      c.AllowDegradation,
		rejectedCode: 503,
		log:          env.Logger,
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.unitDelay.Store(math.Float64bits(c.DefaultConnDelay))
	if c.RejectedCode != nil {
		l.rejectedCode = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		l.rejectedBody = plugin.JSON(map[string]string{"error_msg": *c.RejectedMsg})
	}
	if len(c.Rules) > 0 {
		for i, rc := range c.Rules {
			r := rule{strictKey: vartemplate.Compile(rc.Key)}
			var err error
			if r.conn, err = newAmount(rc.Conn, "conn"); err != nil {
				return nil, fmt.Errorf("limit-conn: rules[%d]: %w", i, err)
			}
			if r.burst, err = newAmount(rc.Burst, "burst"); err != nil {
				return nil, fmt.Errorf("limit-conn: rules[%d]: %w", i, err)
			}
			l.rules = append(l.rules, r)
		}
	} else {
		r := rule{key: limitkey.New(c.KeyType, c.Key)}
		var err error
		if r.conn, err = newAmount(c.Conn, "conn"); err != nil {
			return nil, fmt.Errorf("limit-conn: %w", err)
		}
		if r.burst, err = newAmount(c.Burst, "burst"); err != nil {
			return nil, fmt.Errorf("limit-conn: %w", err)
		}
		l.rules = append(l.rules, r)
	}
	id := env.Parent + ":" + limitkey.ConfVersion(raw)
	switch c.Policy {
	case "local", "":
		l.backend = &localBackend{store: acquireStore(id)}
	case "redis", "redis-cluster":
		b, err := newRedisBackend(raw, id, l.log)
		if err != nil {
			return nil, fmt.Errorf("limit-conn: %w", err)
		}
		l.backend = b
	default:
		return nil, fmt.Errorf("limit-conn: unknown policy %q", c.Policy)
	}
	return l, nil
}

// connCtx is what taking and giving back slots needs of a request (plugin.Ctx) or a stream
// connection (plugin.StreamCtx).
type connCtx interface {
	plugin.Vars
	Exit(status int, body []byte)
	Set(key, value any)
	Get(key any) any
}

// Access takes a slot per rule; over conn+burst rejects, over conn waits
// unit_delay × floor((n−1)/conn), as resty.limit.conn.
func (l *LimitConn) Access(c plugin.Ctx) { l.incoming(c) }

// Preread is Access for a stream connection (APISIX's stream limit-conn): a connection over
// the limit is closed before it reaches a node.
func (l *LimitConn) Preread(c plugin.StreamCtx) { l.incoming(c) }

func (l *LimitConn) incoming(c connCtx) {
	bp := limitkey.Bufs.Get().(*[]byte)
	defer limitkey.Bufs.Put(bp)
	var h *held
	applied := 0
	for i := range l.rules {
		r := &l.rules[i]
		conn, ok1 := r.conn.resolve(c, 1)
		burst, ok2 := r.burst.resolve(c, 0)
		key, ok3 := r.appendKey((*bp)[:0], c)
		*bp = key[:0]
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		applied++
		n, ls, rejected, err := l.backend.incoming(key, conn, burst)
		if err != nil {
			l.log.Error("failed to limit conn", "error", err)
			if !l.degrade {
				c.Exit(500, nil)
			}
			return
		}
		if rejected {
			c.Exit(l.rejectedCode, l.rejectedBody)
			return
		}
		if n > conn {
			unit := math.Float64frombits(l.unitDelay.Load())
			ls.delay = time.Duration(unit * float64((n-1)/conn) * float64(time.Second))
		}
		if h == nil {
			h = heldPool.Get().(*held)
			c.Set(l, h)
		}
		h.leases = append(h.leases, ls)
		if ls.delay >= time.Millisecond {
			time.Sleep(ls.delay)
		}
	}
	if applied == 0 {
		l.log.Error("failed to limit conn: no rule applies to the request")
		if !l.degrade {
			c.Exit(500, nil)
		}
	}
}

// Log gives the request's slots back. The runtime runs log for every request whose access
// ran, including those a later plugin ended, so slots never leak.
func (l *LimitConn) Log(c plugin.Ctx) {
	l.leaving(c, c.UpstreamLatency(), c.StartTime(), false)
}

// StreamLog gives a stream connection's slots back once it is closed. A session's length is
// not a request latency: unit_delay is left alone, as APISIX's stream leaving does.
func (l *LimitConn) StreamLog(c plugin.StreamCtx) { l.leaving(c, -1, c.StartTime(), true) }

// leaving gives the slots back; upstream < 0 means no upstream latency is known.
func (l *LimitConn) leaving(c connCtx, upstream time.Duration, start time.Time, stream bool) {
	h, _ := c.Get(l).(*held)
	if h == nil {
		return
	}
	c.Set(l, nil)
	for i := range h.leases {
		ls := &h.leases[i]
		if !l.onlyDefault && !stream {
			var latency time.Duration
			if upstream >= 0 {
				latency = upstream
			} else {
				latency = time.Since(start) - ls.delay
			}
			unit := math.Float64frombits(l.unitDelay.Load())
			// A racing update may be lost; the average stays an average, as APISIX's per-worker one.
			l.unitDelay.Store(math.Float64bits((latency.Seconds() + unit) / 2))
		}
		l.backend.leaving(ls)
		*ls = lease{}
	}
	h.leases = h.leases[:0]
	heldPool.Put(h)
}

// Close releases the counters (freed with the last instance of the same identity) or the
// Redis client.
func (l *LimitConn) Close() { l.backend.close() }

type localBackend struct{ store *localStore }

func (b *localBackend) incoming(key []byte, max, burst int64) (int64, lease, bool, error) {
	n, ctr, rejected := b.store.incoming(key, max, burst)
	return n, lease{ctr: ctr}, rejected, nil
}

func (b *localBackend) leaving(l *lease) { b.store.leaving(l.ctr) }
func (b *localBackend) close()           { b.store.release() }

var (
	_ plugin.Accessor = (*LimitConn)(nil)
	_ plugin.Logger   = (*LimitConn)(nil)
	_ plugin.Closer   = (*LimitConn)(nil)

	_ plugin.StreamPrereader = (*LimitConn)(nil)
	_ plugin.StreamLogger    = (*LimitConn)(nil)
)
