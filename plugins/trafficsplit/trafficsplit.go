// Package trafficsplit implements APISIX's traffic-split plugin: rules of `vars` matches, each
// with weighted upstreams (an upstream object by id, an inline upstream, or the route's own)
// between which matching requests are spread by weighted round robin — canary and blue-green
// releases.
package trafficsplit

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "traffic-split",
		Priority:       966,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 966,
		New:            newSplit,
	})
}

type config struct {
	Rules []struct {
		// A pointer tells an absent match (the rule always applies) from an empty one.
		Match *[]struct {
			Vars any `json:"vars"`
		} `json:"match"`
		WeightedUpstreams *[]weightedUpstream `json:"weighted_upstreams"`
	} `json:"rules"`
}

type weightedUpstream struct {
	UpstreamID json.RawMessage `json:"upstream_id"`
	Upstream   json.RawMessage `json:"upstream"`
	Weight     *int64          `json:"weight"`
}

type targetKind uint8

const (
	routeUpstream targetKind = iota // weight only: the route's own upstream
	upstreamByID
	inlineUpstream
)

// target is one entry of the round robin.
type target struct {
	kind targetKind
	id   string
	up   plugin.Upstream // inline, compiled in New
	// errBody is the 500 answer when the entry is chosen: the inline upstream did not compile
	// (APISIX validates the generated upstream per request and answers its error).
	errBody []byte
}

type rule struct {
	always  bool         // no match: the rule applies to every request
	matches []*expr.Expr // ORed; nil entries match everything
	ids     []idCheck    // every upstream_id of the rule, checked when the rule is looked at
	targets []target
	rr      *wrr
}

type idCheck struct {
	id   string
	body []byte // "failed to fetch upstream info by upstream id: <id>"
}

// Split is one compiled traffic-split conf.
type Split struct {
	rules     []rule
	log       *slog.Logger
	closeOnce sync.Once
}

func newSplit(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("traffic-split: %w", err)
	}
	s := &Split{log: env.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	for ri, rc := range c.Rules {
		// Appended first so that Close releases what a failing rule compiled already.
		s.rules = append(s.rules, rule{always: rc.Match == nil})
		r := &s.rules[len(s.rules)-1]
		if rc.Match != nil {
			for _, m := range *rc.Match {
				e, err := expr.Compile(m.Vars)
				if err != nil {
					s.Close()
					return nil, fmt.Errorf("failed to validate the 'vars' expression: %w", err)
				}
				r.matches = append(r.matches, e)
			}
		}
		if err := s.compileTargets(r, ri, rc.WeightedUpstreams, env); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// compileTargets builds the rule's round robin as lua-resty-roundrobin sees APISIX's server
// list: a table keyed by upstream_id (or by the inline upstream, or one marker for "the
// route's upstream"), so a repeated id or a second weight-only entry replaces the weight of
// the first.
func (s *Split) compileTargets(r *rule, ri int, ups *[]weightedUpstream, env plugin.Env) error {
	var weights []int64
	if ups == nil { // the schema's default: [{weight: 1}]
		r.targets, weights = []target{{kind: routeUpstream}}, []int64{1}
	}
	for wi, wu := range derefOrNil(ups) {
		weight := int64(1)
		if wu.Weight != nil {
			weight = *wu.Weight
		}
		t := target{kind: routeUpstream}
		switch {
		case len(wu.UpstreamID) > 0 && string(wu.UpstreamID) != "null":
			id, err := idString(wu.UpstreamID)
			if err != nil {
				return fmt.Errorf("rules[%d].weighted_upstreams[%d].upstream_id: %w", ri, wi, err)
			}
			t = target{kind: upstreamByID, id: id}
			if !containsID(r.ids, id) {
				r.ids = append(r.ids, idCheck{id, []byte("failed to fetch upstream info by upstream id: " + id)})
			}
		case len(wu.Upstream) > 0 && string(wu.Upstream) != "null":
			t = target{kind: inlineUpstream}
			if err := s.compileInline(&t, wu.Upstream, env); err != nil {
				return fmt.Errorf("rules[%d].weighted_upstreams[%d].upstream: %w", ri, wi, err)
			}
		}
		if i := sameKey(r.targets, t); i >= 0 {
			weights[i] = weight
			continue
		}
		r.targets = append(r.targets, t)
		weights = append(weights, weight)
	}
	if len(weights) > 0 {
		r.rr = newWRR(weights)
	}
	return nil
}

func derefOrNil[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}

func containsID(ids []idCheck, id string) bool {
	for _, c := range ids {
		if c.id == id {
			return true
		}
	}
	return false
}

// sameKey finds an earlier entry lua-resty-roundrobin would store under the same key.
func sameKey(ts []target, t target) int {
	if t.kind == inlineUpstream {
		return -1
	}
	for i, o := range ts {
		if o.kind == t.kind && o.id == t.id {
			return i
		}
	}
	return -1
}

// idString reads an id schema value (string or positive integer) as the key of the upstream.
func idString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}

// inlineFields are what APISIX's set_upstream copies from an inline upstream; its health
// checks, retries, TLS and keepalive pool are not used.
var inlineFields = []string{"name", "type", "hash_on", "pass_host", "upstream_host", "key", "nodes", "scheme"}

// compileInline builds the inline upstream APISIX generates per request, once.
func (s *Split) compileInline(t *target, raw json.RawMessage, env plugin.Env) error {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	out := make(map[string]json.RawMessage, len(inlineFields)+1)
	for _, f := range inlineFields {
		if v, ok := in[f]; ok {
			out[f] = v
		}
	}
	// Timeouts default to 15 s each, field by field, as set_upstream does.
	timeout := map[string]json.RawMessage{"connect": json.RawMessage("15"), "send": json.RawMessage("15"), "read": json.RawMessage("15")}
	if v, ok := in["timeout"]; ok {
		var set map[string]json.RawMessage
		if err := json.Unmarshal(v, &set); err != nil {
			return fmt.Errorf("timeout: %w", err)
		}
		for k, x := range set {
			if _, known := timeout[k]; known && string(x) != "null" {
				timeout[k] = x
			}
		}
	}
	tb, err := json.Marshal(timeout)
	if err != nil {
		return err
	}
	out["timeout"] = tb
	conf, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if env.NewUpstream == nil {
		return nil // no data plane (Admin API validation): the schema check is all there is
	}
	up, err := env.NewUpstream(conf)
	if err != nil {
		s.log.Error("failed to validate generated upstream", "error", err)
		t.errBody = []byte(err.Error())
		return nil
	}
	t.up = up
	return nil
}

var errNoSetter = errors.New("traffic-split: the request context cannot change its upstream")

// Access picks the upstream of the request: the first rule that applies chooses one of its
// weighted upstreams; with no rule applying the route's upstream stays.
func (s *Split) Access(c plugin.Ctx) { s.choose(c) }

// Preread is Access for a stream connection (APISIX's stream traffic-split): the rules'
// vars see the stream variables (remote_addr, server_port ...).
func (s *Split) Preread(c plugin.StreamCtx) { s.choose(c) }

// splitCtx is what choosing needs of a request or a stream connection; it must also be a
// plugin.UpstreamSetter.
type splitCtx interface {
	plugin.Vars
	Exit(status int, body []byte)
}

func (s *Split) choose(c splitCtx) {
	if len(s.rules) == 0 {
		return
	}
	setter, ok := c.(plugin.UpstreamSetter)
	if !ok {
		s.log.Error(errNoSetter.Error())
		return
	}
	var chosen *rule
	matched := true // carried from rule to rule, as APISIX does (an empty match keeps it)
	overridden := false
	for i := range s.rules {
		r := &s.rules[i]
		for _, idc := range r.ids {
			if !setter.SetUpstreamID(idc.id) {
				s.log.Error("failed to fetch upstream info by upstream id", "upstream_id", idc.id)
				c.Exit(500, idc.body)
				return
			}
			overridden = true
		}
		if r.always {
			chosen = r
			break
		}
		for _, m := range r.matches {
			if matched = m.Eval(c); matched {
				break
			}
		}
		if matched {
			chosen = r
			break
		}
	}
	if chosen == nil || len(chosen.targets) == 0 {
		if overridden {
			setter.SetUpstream(nil)
		}
		return
	}
	t := &chosen.targets[chosen.rr.pick()]
	switch t.kind {
	case upstreamByID:
		if !setter.SetUpstreamID(t.id) {
			c.Exit(500, []byte("failed to fetch upstream info by upstream id: "+t.id))
		}
	case inlineUpstream:
		if t.errBody != nil {
			c.Exit(500, t.errBody)
			return
		}
		if t.up != nil {
			setter.SetUpstream(t.up)
		}
	default:
		if overridden {
			setter.SetUpstream(nil) // back to the route's own upstream
		}
	}
}

// Close releases the inline upstreams the instance compiled.
func (s *Split) Close() {
	s.closeOnce.Do(func() {
		for i := range s.rules {
			for _, t := range s.rules[i].targets {
				if t.up != nil {
					t.up.Close()
				}
			}
		}
	})
}

var (
	_ plugin.Accessor = (*Split)(nil)
	_ plugin.Closer   = (*Split)(nil)
)
