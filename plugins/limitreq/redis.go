package limitreq

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicegw/sluice/plugins/internal/redispolicy"
)

// incomingScript is resty.limit.req's incoming(key, commit=true) run atomically in Redis on
// the hash limit_req:<counter key> {excess, last}: nodes sharing the Redis share the bucket.
// It returns {1, excess} when admitted and {0, ""} when rejected (the bucket is untouched).
var incomingScript = redis.NewScript(`
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 'excess', 'last')
local excess = 0
if st[1] and st[2] then
  excess = math.max(tonumber(st[1]) - rate * math.abs(now - tonumber(st[2])) / 1000 + 1000, 0)
  if excess > burst then
    return {0, ''}
  end
end
redis.call('HSET', KEYS[1], 'excess', tostring(excess), 'last', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, tostring(excess)}
`)

type redisBackend struct {
	client *redispolicy.Client
	prefix string // limit_req:<parent>:<conf version>:
	rate   string // milli-requests per second
	burst  string // milli-requests
	ttl    string // seconds: ceil(burst/rate)+1, as APISIX sets it
}

func newRedisBackend(raw []byte, id string, rate, burst float64) (backend, error) {
	var c struct {
		Policy string `json:"policy"`
		redispolicy.Conf
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	cl, err := c.Conf.Acquire(c.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", c.Policy, err)
	}
	return &redisBackend{
		client: cl,
		prefix: "limit_req:" + id + ":",
		rate:   strconv.FormatFloat(rate, 'g', -1, 64),
		burst:  strconv.FormatFloat(burst, 'g', -1, 64),
		ttl:    strconv.Itoa(int(math.Ceil(burst/rate)) + 1),
	}, nil
}

func (b *redisBackend) incoming(key []byte) (float64, bool, error) {
	now := strconv.FormatFloat(float64(time.Now().UnixMicro())/1000, 'f', 3, 64)
	res, err := incomingScript.Run(context.Background(), b.client.Redis(),
		[]string{b.prefix + string(key)}, b.rate, b.burst, now, b.ttl).Slice()
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("unexpected script reply %v", res)
	}
	if ok, _ := res[0].(int64); ok == 0 {
		return 0, true, nil
	}
	s, _ := res[1].(string)
	excess, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("script reply excess %q: %w", s, err)
	}
	return excess, false, nil
}

func (b *redisBackend) close() { b.client.Release() }
