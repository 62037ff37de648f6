// Package limitreq implements APISIX's limit-req plugin: a leaky bucket per key (nginx's
// limit_req, as resty.limit.req computes it) that delays requests over the rate while the
// excess stays within burst, and rejects beyond it. Buckets live on this node (policy local)
// or in Redis (redis, redis-cluster), updated by one atomic script per request.
package limitreq

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/limitkey"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// APISIX's if/then/else on policy relies on its validator injecting the `local` default first; the
// `if` here also requires `policy`, so a validator that does not inject defaults reads an absent
// policy as local too.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "limit-req",
		Priority:       1001,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password"},
		DefaultEnabled: true,
		New:            New,
	})
}

type config struct {
	Rate             float64 `json:"rate"`
	Burst            float64 `json:"burst"`
	Key              string  `json:"key"`
	KeyType          string  `json:"key_type"`
	Policy           string  `json:"policy"`
	RejectedCode     *int    `json:"rejected_code"`
	RejectedMsg      *string `json:"rejected_msg"`
	Nodelay          bool    `json:"nodelay"`
	AllowDegradation bool    `json:"allow_degradation"`
}

// backend decides one request: the bucket's new excess in milli-requests, or rejected.
type backend interface {
	incoming(key []byte) (excess float64, rejected bool, err error)
	close()
}

// LimitReq is one compiled limit-req conf.
type LimitReq struct {
	key          limitkey.Source
	rate         float64 // milli-requests per second, as resty.limit.req keeps it
	nodelay      bool
	degrade      bool
	rejectedCode int
	rejectedBody []byte // nil: nginx's page for the code
	backend      backend
	log          *slog.Logger
}

// New compiles a limit-req conf. The counter identity is the conf's parent and version, as
// APISIX's `<parent>:<conf version>` prefix, so two routes never share buckets.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := config{KeyType: "var", Policy: "local"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("limit-req: %w", err)
	}
	if c.Rate <= 0 {
		return nil, fmt.Errorf("limit-req: rate must be greater than 0")
	}
	l := &LimitReq{
		key:          limitkey.New(c.KeyType, c.Key),
		rate:         c.Rate * 1000,
		nodelay:      c.Nodelay,
		degrade:      c.AllowDegradation,
		rejectedCode: 503,
		log:          env.Logger,
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if c.RejectedCode != nil {
		l.rejectedCode = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		l.rejectedBody = plugin.JSON(map[string]string{"error_msg": *c.RejectedMsg})
	}
	id := env.Parent + ":" + limitkey.ConfVersion(raw)
	switch c.Policy {
	case "local", "":
		l.backend = &localBackend{store: acquireStore(id, c.Rate*1000, c.Burst*1000)}
	case "redis", "redis-cluster":
		b, err := newRedisBackend(raw, id, c.Rate*1000, c.Burst*1000)
		if err != nil {
			return nil, fmt.Errorf("limit-req: %w", err)
		}
		l.backend = b
	default:
		return nil, fmt.Errorf("limit-req: unknown policy %q", c.Policy)
	}
	return l, nil
}

// Access applies the bucket: reject over burst, else sleep the excess away unless nodelay.
func (l *LimitReq) Access(c plugin.Ctx) {
	bp := limitkey.Bufs.Get().(*[]byte)
	key := l.key.AppendRaw((*bp)[:0], c)
	excess, rejected, err := l.backend.incoming(key)
	*bp = key[:0]
	limitkey.Bufs.Put(bp)
	if err != nil {
		l.log.Error("failed to limit req", "error", err)
		if !l.degrade {
			c.Exit(500, nil)
		}
		return
	}
	if rejected {
		c.Exit(l.rejectedCode, l.rejectedBody)
		return
	}
	if delay := excess / l.rate; delay >= 0.001 && !l.nodelay {
		time.Sleep(time.Duration(delay * float64(time.Second)))
	}
}

// Close releases the instance's buckets (freed with the last instance of the same identity)
// or its Redis client.
func (l *LimitReq) Close() { l.backend.close() }

type localBackend struct{ store *localStore }

func (b *localBackend) incoming(key []byte) (float64, bool, error) {
	excess, rejected := b.store.incoming(key, clock())
	return excess, rejected, nil
}

func (b *localBackend) close() { b.store.release() }

var (
	_ plugin.Accessor = (*LimitReq)(nil)
	_ plugin.Closer   = (*LimitReq)(nil)
)
