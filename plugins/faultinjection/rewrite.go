package faultinjection

import (
	"encoding/json"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

type config struct {
	Abort *struct {
		HTTPStatus int                        `json:"http_status"`
		Body       *string                    `json:"body"`
		Headers    map[string]json.RawMessage `json:"headers"`
		Percentage *int                       `json:"percentage"`
		Vars       []any                      `json:"vars"`
	} `json:"abort"`
	Delay *struct {
		Duration   float64 `json:"duration"`
		Percentage *int    `json:"percentage"`
		Vars       []any   `json:"vars"`
	} `json:"delay"`
}

type header struct {
	name  string
	value *vartemplate.Template
}

// rule is what abort and delay share: a sampling percentage and ORed expressions.
type rule struct {
	percentage int // -1: always
	vars       []*expr.Expr
}

// FaultInjection is one compiled fault-injection conf.
type FaultInjection struct {
	abort      *rule
	status     int
	body       *vartemplate.Template // nil: no body (nginx's page for the status)
	staticBody []byte
	headers    []header

	delay    *rule
	duration time.Duration
}

func newRule(pct *int, vars []any) (*rule, error) {
	r := &rule{percentage: -1}
	if pct != nil {
		r.percentage = *pct
	}
	for _, v := range vars {
		e, err := expr.Compile(v)
		if err != nil {
			return nil, err
		}
		r.vars = append(r.vars, e)
	}
	return r, nil
}

func newFaultInjection(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	f := &FaultInjection{}
	if a := c.Abort; a != nil {
		r, err := newRule(a.Percentage, a.Vars)
		if err != nil {
			return nil, err
		}
		f.abort, f.status = r, a.HTTPStatus
		if a.Body != nil {
			f.body = vartemplate.Compile(*a.Body)
			if s, ok := f.body.Static(); ok {
				f.staticBody = append([]byte{}, s...) // non-nil even when empty: "" is an empty body
			}
		}
		names := make([]string, 0, len(a.Headers))
		for k := range a.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			s, err := vartemplate.Scalar(a.Headers[k])
			if err != nil {
				return nil, err
			}
			f.headers = append(f.headers, header{k, vartemplate.Compile(s)})
		}
	}
	if d := c.Delay; d != nil {
		r, err := newRule(d.Percentage, d.Vars)
		if err != nil {
			return nil, err
		}
		f.delay, f.duration = r, time.Duration(d.Duration*float64(time.Second))
	}
	return f, nil
}

// hit is sample_hit plus the vars check: no vars, or any expression true.
func (r *rule) hit(v plugin.Vars) bool {
	if len(r.vars) > 0 {
		matched := false
		for _, e := range r.vars {
			if e.Eval(v) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return r.percentage < 0 || rand.IntN(100)+1 <= r.percentage
}

// Rewrite delays first, then aborts, as APISIX does.
func (f *FaultInjection) Rewrite(c plugin.Ctx) {
	// Both expressions are evaluated before the delay, against the request as it arrived.
	abort := f.abort != nil && f.abort.hit(c)
	if f.delay != nil && f.delay.hit(c) && f.duration > 0 {
		time.Sleep(f.duration)
	}
	if !abort {
		return
	}
	for _, h := range f.headers {
		c.SetRespHeader(h.name, h.value.String(c))
	}
	switch {
	case f.body == nil:
		c.Exit(f.status, nil)
	case f.staticBody != nil:
		c.Exit(f.status, f.staticBody)
	default:
		b, _ := f.body.Append(make([]byte, 0, 128), c)
		c.Exit(f.status, b)
	}
}

var _ plugin.Rewriter = (*FaultInjection)(nil)
