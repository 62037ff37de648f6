package limitcount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/redispolicy"
)

// LimitCount is one compiled limit-count conf.
type LimitCount struct {
	rules            []*rule
	multi            bool // conf.rules: rule keys that resolve nothing are skipped
	rejectedCode     int
	rejectedBody     []byte // nil: no body
	showHeaders      bool
	allowDegradation bool
	sliding          bool
	// prefix makes counter keys unique per identity: "<group>:" or "<parent>:<conf version>:".
	prefix  string
	state   *state
	redis   *redispolicy.Client
	cluster bool
	// syncInterval > 0: a Redis policy with delayed sync; windows not longer than it still go
	// to Redis on every request, as in APISIX.
	syncInterval time.Duration
	log          *slog.Logger

	closeOnce sync.Once
}

type keyKind uint8

const (
	keyVar keyKind = iota
	keyTemplate
	keyConstant
)

type rule struct {
	count, window         int64 // constants; 0 when templated
	countTmpl, windowTmpl *vartemplate.Template
	keyKind               keyKind
	keyVar                plugin.Var
	keyTmpl               *vartemplate.Template
	keyConst              string
	hLimit, hRemain       string
	hReset                string
	local                 *counterMap
	// countStr and windowStr are the constant count and window as header values.
	countStr, windowStr string
}

var remoteAddr = plugin.ParseVar("remote_addr")

// maxSafe is 2^53-1: APISIX rejects larger resolved counts and windows (Lua numbers).
const maxSafe = 1<<53 - 1

func newRule(count, window json.RawMessage, prefix string, md metadata) (*rule, error) {
	r := &rule{hLimit: headerName(md.LimitHeader, prefix), hRemain: headerName(md.RemainingHeader, prefix),
		hReset: headerName(md.ResetHeader, prefix)}
	var err error
	if r.count, r.countTmpl, err = intOrTemplate(count); err != nil {
		return nil, fmt.Errorf("count: %w", err)
	}
	if r.window, r.windowTmpl, err = intOrTemplate(window); err != nil {
		return nil, fmt.Errorf("time_window: %w", err)
	}
	r.countStr, r.windowStr = strconv.FormatInt(r.count, 10), strconv.FormatInt(r.window, 10)
	return r, nil
}

func intOrTemplate(raw json.RawMessage) (int64, *vartemplate.Template, error) {
	if len(raw) == 0 {
		return 0, nil, errors.New("missing")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t := vartemplate.Compile(s)
		if v, ok := t.Static(); ok {
			if n, ok := parsePositive([]byte(v)); ok {
				return n, nil, nil
			}
		}
		return 0, t, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n <= 0 {
		return 0, nil, fmt.Errorf("want a positive integer or a string, got %s", raw)
	}
	return n, nil, nil
}

// parsePositive reads a resolved count or window: a positive integer (Lua's tonumber also
// takes "10.0" and "1e1") no larger than 2^53-1.
func parsePositive(b []byte) (int64, bool) {
	var n int64
	digits := len(b) > 0
	for _, c := range b {
		if c < '0' || c > '9' || n > maxSafe/10 {
			digits = false
			break
		}
		n = n*10 + int64(c-'0')
	}
	if !digits {
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil || f != float64(int64(f)) {
			return 0, false
		}
		n = int64(f)
	}
	return n, n > 0 && n <= maxSafe
}

func (r *rule) resolve(c plugin.Ctx, buf []byte) (count, window int64, err error) {
	count, window = r.count, r.window
	if r.countTmpl != nil {
		b, _ := r.countTmpl.Append(buf[:0], c)
		var ok bool
		if count, ok = parsePositive(b); !ok {
			return 0, 0, fmt.Errorf("invalid count value %q", b)
		}
	}
	if r.windowTmpl != nil {
		b, _ := r.windowTmpl.Append(buf[:0], c)
		var ok bool
		if window, ok = parsePositive(b); !ok {
			return 0, 0, fmt.Errorf("invalid time_window value %q", b)
		}
	}
	return count, window, nil
}

type keyStatus uint8

const (
	keyFound    keyStatus = iota
	keySkip               // a rules-mode key resolved nothing: the rule does not apply
	keyFallback           // the key resolved nothing: the client IP stands in, as in APISIX
)

// appendKey appends the rule's raw key to dst.
func (r *rule) appendKey(dst []byte, c plugin.Ctx, multi bool) ([]byte, keyStatus) {
	switch r.keyKind {
	case keyConstant:
		return append(dst, r.keyConst...), keyFound
	case keyTemplate:
		out, n := r.keyTmpl.Append(dst, c)
		if n > 0 {
			return out, keyFound
		}
		if multi {
			return dst, keySkip
		}
	default:
		if v, ok := c.Lookup(&r.keyVar); ok {
			return append(dst, v...), keyFound
		}
	}
	v, _ := c.Lookup(&remoteAddr)
	return append(dst, v...), keyFallback
}

// Access counts the request against every rule, first rejection wins.
func (lc *LimitCount) Access(c plugin.Ctx) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	applied := false
	for _, r := range lc.rules {
		key, st := r.appendKey(append(sc.key[:0], lc.prefix...), c, lc.multi)
		sc.key = key // keep a grown buffer
		switch st {
		case keySkip:
			continue
		case keyFallback:
			// APISIX logs this at info level; checked first so the hot path never formats it.
			if lc.log.Enabled(context.Background(), slog.LevelInfo) {
				lc.log.Info("The value of the configured key is empty, use client IP instead")
			}
		}
		applied = true
		count, window, err := r.resolve(c, sc.num[:0])
		if err != nil {
			lc.log.Error("failed to get rate limit rules: " + err.Error())
			if !lc.allowDegradation {
				c.Exit(500, nil)
			}
			return
		}
		var res result
		if d := lc.state.delayed; d != nil && time.Duration(window)*time.Second > lc.syncInterval {
			res = d.incoming(lc.redisKey(key), count, window, time.Now().UnixNano())
		} else if lc.redis != nil {
			res, err = lc.incomingRedis(key, count, window)
		} else if lc.sliding {
			res = r.local.sliding(key[len(lc.prefix):], count, 1, window*int64(time.Second), time.Now().UnixNano())
		} else {
			res = r.local.fixed(key[len(lc.prefix):], count, 1, window*int64(time.Second), time.Now().UnixNano())
		}
		if err != nil {
			lc.log.Error("failed to limit count: " + err.Error())
			if !lc.allowDegradation {
				c.Exit(500, bodyFailed)
			}
			return
		}
		if lc.showHeaders {
			limit := r.countStr
			if r.countTmpl != nil {
				limit = strconv.FormatInt(count, 10)
			}
			c.SetRespHeader(r.hLimit, limit)
			c.SetRespHeader(r.hRemain, strconv.FormatInt(res.remaining, 10))
			if res.fullWindow && r.windowTmpl == nil {
				c.SetRespHeader(r.hReset, r.windowStr)
			} else {
				c.SetRespHeader(r.hReset, lc.formatReset(res, window))
			}
		}
		if !res.allowed {
			c.Exit(lc.rejectedCode, lc.rejectedBody)
			return
		}
	}
	if !applied {
		// rules configured but none had a key for this request: APISIX fails the request.
		lc.log.Error("failed to get rate limit rules: no rule matched the request")
		if !lc.allowDegradation {
			c.Exit(500, nil)
		}
	}
}

// scratch is a request's key and number buffers; pooled because the key passes through
// interface calls (Vars.Lookup) that make a stack buffer escape.
type scratch struct{ key, num []byte }

var scratchPool = sync.Pool{New: func() any {
	return &scratch{key: make([]byte, 0, 128), num: make([]byte, 0, 32)}
}}

var bodyFailed = plugin.JSON(map[string]string{"error_msg": "failed to limit count"})

// formatReset renders X-RateLimit-Reset as APISIX: the whole window on a fixed window's first
// request, else the time left with two decimals (floored; ceiled for sliding windows), as
// Lua's tostring prints it ("59.98", "60").
func (lc *LimitCount) formatReset(res result, window int64) string {
	if res.fullWindow {
		return strconv.FormatInt(window, 10)
	}
	const unit = int64(10 * time.Millisecond)
	cs := res.resetNs / unit
	if lc.sliding && res.resetNs%unit != 0 {
		cs++
	}
	if cs <= 0 {
		return "0"
	}
	var buf [24]byte
	b := strconv.AppendInt(buf[:0], cs/100, 10)
	if frac := cs % 100; frac != 0 {
		b = append(b, '.', byte('0'+frac/10))
		if frac%10 != 0 {
			b = append(b, byte('0'+frac%10))
		}
	}
	return string(b)
}

// Close releases the counters and the Redis client; it may run while a request of the
// previous snapshot is still counting (both stay usable until garbage or the client's grace).
func (lc *LimitCount) Close() {
	lc.closeOnce.Do(func() {
		lc.state.release()
		lc.redis.Release()
	})
}

var (
	_ plugin.Accessor = (*LimitCount)(nil)
	_ plugin.Closer   = (*LimitCount)(nil)
)
