package uarestriction

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"sync"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

type conf struct {
	BypassMissing bool     `json:"bypass_missing"`
	Allowlist     []string `json:"allowlist"`
	Denylist      []string `json:"denylist"`
	Message       string   `json:"message"`
}

// UARestriction is one compiled ua-restriction conf.
type UARestriction struct {
	re            *regexp.Regexp // the rules joined with '|', searched unanchored
	allow         bool           // allowlist mode
	bypassMissing bool
	body          []byte
}

// New compiles a conf (plugins.md §4 ua-restriction), applying the schema defaults.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	c := conf{Message: "Not allowed"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	rules := c.Denylist
	if c.Allowlist != nil {
		rules = c.Allowlist
	}
	for _, r := range rules {
		if err := model.CheckRegex(r); err != nil {
			return nil, err
		}
	}
	re, err := regexp.Compile(strings.Join(rules, "|"))
	if err != nil {
		return nil, err
	}
	return &UARestriction{re: re, allow: c.Allowlist != nil, bypassMissing: c.BypassMissing,
		body: plugin.Message(c.Message)}, nil
}

// uaVisit walks every User-Agent value of a request; pooled so the bound method value is built
// once, not per request.
type uaVisit struct {
	re           *regexp.Regexp
	values, hits int
	fn           func(name, value []byte)
}

var visits = sync.Pool{New: func() any {
	v := &uaVisit{}
	v.fn = v.visit
	return v
}}

func (v *uaVisit) visit(name, value []byte) {
	if len(name) != len("User-Agent") || !bytes.EqualFold(name, []byte("User-Agent")) {
		return
	}
	v.values++
	if v.re.Match(bytes.TrimSpace(value)) {
		v.hits++
	}
}

// Access checks every User-Agent value (plugins.md §4 ua-restriction).
func (p *UARestriction) Access(c plugin.Ctx) {
	v := visits.Get().(*uaVisit)
	v.re, v.values, v.hits = p.re, 0, 0
	c.VisitHeaders(v.fn)
	values, hits := v.values, v.hits
	v.re = nil
	visits.Put(v)

	var block bool
	switch {
	case values == 0:
		block = !p.bypassMissing
	case p.allow:
		block = hits == 0 // any value matching a rule passes
	case values == 1:
		block = hits == 1
	default:
		// APISIX 3.18 inverts the per-value check with several headers: the request passes
		// only when every value is denied (plugins.md §10 item 9).
		block = hits < values
	}
	if block {
		c.Exit(403, p.body)
	}
}

var _ plugin.Accessor = (*UARestriction)(nil)
