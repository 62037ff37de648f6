package refererrestriction

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

type conf struct {
	BypassMissing bool     `json:"bypass_missing"`
	Whitelist     []string `json:"whitelist"`
	Blacklist     []string `json:"blacklist"`
	Message       string   `json:"message"`
}

// RefererRestriction is one compiled referer-restriction conf.
type RefererRestriction struct {
	hosts         map[string]struct{}
	suffixes      []string // entries "*x" as "x"; "*" alone as "" (matches every host)
	allow         bool     // whitelist mode
	bypassMissing bool
	body          []byte
}

// New compiles a conf (plugins.md §4 referer-restriction), applying the schema defaults.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	c := conf{Message: "Your referer host is not allowed"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	p := &RefererRestriction{hosts: map[string]struct{}{}, bypassMissing: c.BypassMissing,
		body: plugin.Message(c.Message)}
	list := c.Blacklist
	if c.Whitelist != nil {
		list, p.allow = c.Whitelist, true
	}
	for _, h := range list {
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			p.suffixes = append(p.suffixes, suffix)
		} else {
			p.hosts[h] = struct{}{}
		}
	}
	return p, nil
}

// Access matches the Referer's host (plugins.md §4 referer-restriction).
func (p *RefererRestriction) Access(c plugin.Ctx) {
	var block bool
	ref, ok := c.Header("Referer")
	host := refererHost(ref)
	switch {
	case !ok || host == nil:
		block = !p.bypassMissing
	case p.allow:
		block = !p.match(host)
	default:
		block = p.match(host)
	}
	if block {
		c.Exit(403, p.body)
	}
}

func (p *RefererRestriction) match(host []byte) bool {
	if _, ok := p.hosts[string(host)]; ok { // no allocation: map index by converted []byte
		return true
	}
	for _, s := range p.suffixes {
		if len(host) >= len(s) && string(host[len(host)-len(s):]) == s {
			return true
		}
	}
	return false
}

// refererHost extracts the host as lua-resty-http's parse_uri does, which APISIX uses:
// ^(?:(http[s]?):)?//((?:[^\[\]:/\?]+)|(?:\[.+\]))… — an optional lower-case http/https
// scheme, "//", then a host ending at the first of "[]:/?" (or a bracketed literal up to the
// last ']'). nil means malformed.
func refererHost(ref []byte) []byte {
	switch {
	case bytes.HasPrefix(ref, []byte("http://")):
		ref = ref[len("http://"):]
	case bytes.HasPrefix(ref, []byte("https://")):
		ref = ref[len("https://"):]
	case bytes.HasPrefix(ref, []byte("//")):
		ref = ref[len("//"):]
	default:
		return nil
	}
	if len(ref) > 0 && ref[0] == '[' {
		end := bytes.LastIndexByte(ref, ']')
		if end < 2 {
			return nil
		}
		return ref[:end+1]
	}
	end := bytes.IndexAny(ref, "[]:/?")
	if end < 0 {
		end = len(ref)
	}
	if end == 0 {
		return nil
	}
	return ref[:end]
}

var _ plugin.Accessor = (*RefererRestriction)(nil)
