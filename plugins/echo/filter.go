package echo

import (
	"encoding/json"
	"sort"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

type config struct {
	BeforeBody *string                    `json:"before_body"`
	Body       *string                    `json:"body"`
	AfterBody  *string                    `json:"after_body"`
	Headers    map[string]json.RawMessage `json:"headers"`
}

type header struct{ name, value string }

// Echo is one compiled echo conf.
type Echo struct {
	before, body, after []byte // nil: not configured
	modifies            bool
	headers             []header
}

func newEcho(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	e := &Echo{}
	bs := func(s *string) []byte {
		if s == nil {
			return nil
		}
		return append([]byte{}, *s...)
	}
	e.before, e.body, e.after = bs(c.BeforeBody), bs(c.Body), bs(c.AfterBody)
	e.modifies = e.before != nil || e.body != nil || e.after != nil
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		// APISIX's schema accepts any value; only strings and numbers become headers (literal,
		// no $var templates).
		if v, err := vartemplate.Scalar(c.Headers[k]); err == nil && k != "" {
			e.headers = append(e.headers, header{k, v})
		}
	}
	return e, nil
}

// HeaderFilter clears the body-derived headers and sets the configured ones.
func (e *Echo) HeaderFilter(c plugin.Ctx) {
	if e.modifies {
		c.DelRespHeader("Content-Length")
		c.DelRespHeader("Content-Encoding")
		c.DelRespHeader("Last-Modified")
		c.DelRespHeader("ETag")
	}
	for _, h := range e.headers {
		c.SetRespHeader(h.name, h.value)
	}
}

// Per-request progress, kept under the instance's key.
const (
	prefixed uint8 = iota + 1 // before_body already sent
	finished                  // body sent: drop the rest of the upstream's
)

// BodyFilter: body replaces the response and ends it; before_body goes in front of the first
// chunk, after_body after the last.
func (e *Echo) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	st, _ := c.Get(e).(uint8)
	if st == finished {
		return nil
	}
	if e.body != nil {
		chunk, eof = e.body, true
	}
	if e.before == nil && e.after == nil {
		if e.body != nil {
			c.Set(e, finished)
		}
		return chunk
	}
	var out []byte
	if e.before != nil && st != prefixed {
		out = append(append(out, e.before...), chunk...)
		c.Set(e, prefixed)
	}
	if eof && e.after != nil {
		if out == nil {
			out = append(out, chunk...)
		}
		out = append(out, e.after...)
	}
	if e.body != nil {
		c.Set(e, finished)
	}
	if out == nil {
		return chunk
	}
	return out
}

var (
	_ plugin.HeaderFilterer = (*Echo)(nil)
	_ plugin.BodyFilterer   = (*Echo)(nil)
)
