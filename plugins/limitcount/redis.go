package limitcount

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// fixedScript is APISIX's fixed-window Redis script (3.17, consumed-count storage): the first
// request of a window sets the counter with the window as TTL, later ones INCRBY it. One
// atomic script per request, never a read-modify-write from the gateway. Returns the consumed
// count and the key's PTTL in ms (-1 on the window's first request).
var fixedScript = redis.NewScript(`
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[1])
  return {tonumber(ARGV[2]), -1}
end
return {redis.call('incrby', KEYS[1], ARGV[2]), ttl}
`)

// slidingScript checks and counts a sliding window atomically: KEYS[1] is the current
// window's counter, KEYS[2] the previous one's; ARGV: limit, cost, weight of the previous
// window, TTL in seconds. Returns {allowed 0/1, current count, previous count}.
var slidingScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local cur = tonumber(redis.call('get', KEYS[1]) or '0')
local prev = tonumber(redis.call('get', KEYS[2]) or '0')
if cur >= limit or prev * weight + cur >= limit then
  return {0, cur, prev}
end
cur = redis.call('incrby', KEYS[1], cost)
if cur == cost then
  redis.call('expire', KEYS[1], ARGV[4])
end
return {1, cur, prev}
`)

const redisKeyPrefix = "plugin-limit-count:"

// redisKey is the fixed window's Redis key of counter key (prefix + raw key).
func (lc *LimitCount) redisKey(key []byte) []byte {
	out := make([]byte, 0, len(redisKeyPrefix)+3+len(key))
	return append(append(out, redisKeyPrefix+"v1:"...), key...)
}

// incomingRedis counts key (the counter key: prefix + raw key) in Redis.
func (lc *LimitCount) incomingRedis(key []byte, limit, window int64) (result, error) {
	ctx := context.Background()
	rdb := lc.redis.Redis()
	if !lc.sliding {
		v, err := fixedScript.Run(ctx, rdb, []string{string(lc.redisKey(key))}, window, 1).Int64Slice()
		if err != nil {
			return result{}, err
		}
		res := result{remaining: limit - v[0], allowed: v[0] <= limit}
		if v[1] < 0 {
			res.fullWindow = true
		} else {
			res.resetNs = v[1] * int64(time.Millisecond)
		}
		if res.remaining < 0 {
			res.remaining = 0
		}
		return res, nil
	}
	windowNs := window * int64(time.Second)
	now := time.Now().UnixNano()
	win := now / windowNs
	weight := float64(windowNs-(now-win*windowNs)) / float64(windowNs)
	// In a cluster both windows' keys must hash to one slot: the counter key is a hash tag.
	base := redisKeyPrefix + string(key)
	if lc.cluster {
		base = redisKeyPrefix + "{" + string(key) + "}"
	}
	cur := base + "." + strconv.FormatInt(win, 10) + ".counter"
	prev := base + "." + strconv.FormatInt(win-1, 10) + ".counter"
	v, err := slidingScript.Run(ctx, rdb, []string{cur, prev}, limit, 1,
		strconv.FormatFloat(weight, 'f', 6, 64), 2*window).Int64Slice()
	if err != nil {
		return result{}, err
	}
	res := result{allowed: v[0] == 1, resetNs: (win+1)*windowNs - now}
	if res.allowed {
		res.remaining = slidingRemaining(v[1], v[2], limit, weight)
	}
	return res, nil
}
