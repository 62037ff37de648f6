// Package apibreaker implements APISIX's api-breaker plugin: after unhealthy.failures upstream
// responses with an unhealthy status for a `$host$uri`, requests to it are answered with
// break_response_code for 2^n seconds (n = failures / unhealthy.failures, capped at
// max_breaker_sec); healthy.successes healthy responses close the breaker again.
package apibreaker

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "api-breaker",
		Priority:       1005,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		New:            newBreaker,
	})
}

type config struct {
	BreakResponseCode    int     `json:"break_response_code"`
	BreakResponseBody    *string `json:"break_response_body"`
	BreakResponseHeaders []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"break_response_headers"`
	MaxBreakerSec *int64 `json:"max_breaker_sec"`
	Unhealthy     *struct {
		HTTPStatuses []int  `json:"http_statuses"`
		Failures     *int64 `json:"failures"`
	} `json:"unhealthy"`
	Healthy *struct {
		HTTPStatuses []int  `json:"http_statuses"`
		Successes    *int64 `json:"successes"`
	} `json:"healthy"`
}

type header struct {
	name  string
	value *vartemplate.Template
}

// Breaker is one compiled api-breaker conf.
type Breaker struct {
	code    int
	body    []byte   // nil: no break_response_body (nginx's page for code, no headers)
	headers []header // only sent with a body, as APISIX does

	maxBreakerSec     int64
	unhealthyStatuses []int
	failures          int64
	healthyStatuses   []int
	successes         int64

	st        *store
	closeOnce sync.Once
}

func newBreaker(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("api-breaker: %w", err)
	}
	b := &Breaker{
		code:              c.BreakResponseCode,
		maxBreakerSec:     300,
		unhealthyStatuses: []int{500},
		failures:          3,
		healthyStatuses:   []int{200},
		successes:         3,
	}
	if c.MaxBreakerSec != nil {
		b.maxBreakerSec = *c.MaxBreakerSec
	}
	if u := c.Unhealthy; u != nil {
		if u.HTTPStatuses != nil {
			b.unhealthyStatuses = slices.Clone(u.HTTPStatuses)
		}
		if u.Failures != nil {
			b.failures = *u.Failures
		}
	}
	if h := c.Healthy; h != nil {
		if h.HTTPStatuses != nil {
			b.healthyStatuses = slices.Clone(h.HTTPStatuses)
		}
		if h.Successes != nil {
			b.successes = *h.Successes
		}
	}
	if b.failures < 1 || b.successes < 1 || b.maxBreakerSec < 1 {
		return nil, fmt.Errorf("api-breaker: failures, successes and max_breaker_sec must be positive")
	}
	if c.BreakResponseBody != nil {
		b.body = append([]byte{}, *c.BreakResponseBody...) // non-nil even when "": an empty body
		for _, h := range c.BreakResponseHeaders {
			b.headers = append(b.headers, header{h.Key, vartemplate.Compile(h.Value)})
		}
	}
	b.st = acquireStore()
	return b, nil
}

// maxKey bounds the stack buffer the key is built in; longer keys still work (append grows).
const maxKey = 256

func appendKey(dst []byte, c plugin.Ctx) []byte {
	return append(append(dst, c.Host()...), c.URI()...)
}

// Access rejects the request while the breaker of its `$host$uri` is open.
func (b *Breaker) Access(c plugin.Ctx) {
	if b.st.entries.Load() == 0 {
		return
	}
	var buf [maxKey]byte
	e := b.st.get(appendKey(buf[:0], c))
	if e == nil {
		return
	}
	count := e.unhealthy.Load()
	trip := e.lastTrip.Load()
	if count == 0 || trip == 0 {
		return
	}
	now := b.st.now()
	if e.lastExpiry.Load() <= now.UnixNano() {
		return // the lasttime key's TTL (max_breaker_sec) ran out
	}
	if trip+b.breakerSec(count) < now.Unix() {
		return // half-open: let the request through
	}
	if b.body == nil {
		c.Exit(b.code, nil)
		return
	}
	for _, h := range b.headers {
		c.AddRespHeader(h.name, h.value.String(c))
	}
	c.Exit(b.code, b.body)
}

// breakerSec is the open period after count failures: 2^(count/failures), at least 2 s,
// capped at max_breaker_sec.
func (b *Breaker) breakerSec(count int64) int64 {
	n := count / b.failures
	if n < 1 {
		n = 1
	}
	if n >= 62 || int64(1)<<n > b.maxBreakerSec {
		return b.maxBreakerSec
	}
	return int64(1) << n
}

// Log counts the last upstream status of the request (nothing when none answered).
func (b *Breaker) Log(c plugin.Ctx) {
	status := c.UpstreamStatus()
	if status == 0 {
		return
	}
	unhealthy := slices.Contains(b.unhealthyStatuses, status)
	if !unhealthy && (b.st.entries.Load() == 0 || !slices.Contains(b.healthyStatuses, status)) {
		return
	}
	var buf [maxKey]byte
	key := appendKey(buf[:0], c)
	if unhealthy {
		e := b.st.getOrCreate(key)
		n := e.unhealthy.Add(1)
		e.healthy.Store(0)
		if n%b.failures == 0 {
			now := b.st.now()
			e.lastTrip.Store(now.Unix())
			e.lastExpiry.Store(now.UnixNano() + b.maxBreakerSec*1e9)
		}
		return
	}
	e := b.st.get(key)
	if e == nil || e.unhealthy.Load() == 0 {
		return
	}
	if e.healthy.Add(1) >= b.successes {
		b.st.remove(key, e) // closed: all three keys are deleted
	}
}

// Close releases the instance's hold on the node-wide breaker state.
func (b *Breaker) Close() {
	b.closeOnce.Do(func() { releaseStore(b.st) })
}

var (
	_ plugin.Accessor = (*Breaker)(nil)
	_ plugin.Logger   = (*Breaker)(nil)
	_ plugin.Closer   = (*Breaker)(nil)
)
