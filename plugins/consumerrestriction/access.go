package consumerrestriction

import (
	"encoding/json"
	"fmt"

	"github.com/sluicegw/sluice/plugin"
)

// conf is the plugin conf with the schema defaults applied.
type conf struct {
	Type             string   `json:"type"`
	Blacklist        []string `json:"blacklist"`
	Whitelist        []string `json:"whitelist"`
	AllowedByMethods []struct {
		User    *string  `json:"user"`
		Methods []string `json:"methods"`
	} `json:"allowed_by_methods"`
	RejectedCode int     `json:"rejected_code"`
	RejectedMsg  *string `json:"rejected_msg"`
}

// what the restriction looks at.
type kind uint8

const (
	byConsumerName kind = iota
	byServiceID
	byRouteID
	byConsumerGroupID
)

// Restriction is one compiled consumer-restriction conf.
type Restriction struct {
	kind      kind
	blacklist map[string]struct{}
	whitelist map[string]struct{} // nil: no whitelist
	// methods maps a value to the methods its first allowed_by_methods entry allows; nil when
	// allowed_by_methods is absent or empty.
	methods      map[string][]string
	rejectedCode int
	rejectedBody []byte
	missingBody  []byte
}

// New compiles a consumer-restriction conf.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	cf := conf{Type: "consumer_name", RejectedCode: 403}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("consumer-restriction: %w", err)
		}
	}
	r := &Restriction{rejectedCode: cf.RejectedCode}
	switch cf.Type {
	case "consumer_name":
		r.kind = byConsumerName
	case "service_id":
		r.kind = byServiceID
	case "route_id":
		r.kind = byRouteID
	case "consumer_group_id":
		r.kind = byConsumerGroupID
	default:
		return nil, fmt.Errorf("consumer-restriction: unknown type %q", cf.Type)
	}
	r.blacklist = set(cf.Blacklist)
	if len(cf.Whitelist) > 0 {
		r.whitelist = set(cf.Whitelist)
	}
	if len(cf.AllowedByMethods) > 0 {
		r.methods = map[string][]string{}
		for _, e := range cf.AllowedByMethods {
			if e.User == nil {
				continue // an entry without user matches no value
			}
			if _, seen := r.methods[*e.User]; !seen { // the first entry for a value decides
				r.methods[*e.User] = append([]string{}, e.Methods...)
			}
		}
	}
	if cf.RejectedMsg != nil {
		r.rejectedBody = plugin.Message(*cf.RejectedMsg)
	} else {
		r.rejectedBody = plugin.Message("The " + cf.Type + " is forbidden.")
	}
	r.missingBody = plugin.Message("The request is rejected, please check the " + cf.Type + " for this request")
	return r, nil
}

func set(vs []string) map[string]struct{} {
	m := make(map[string]struct{}, len(vs))
	for _, v := range vs {
		m[v] = struct{}{}
	}
	return m
}

// Access allows or rejects the request by its consumer name, consumer group, route or service.
func (r *Restriction) Access(c plugin.Ctx) {
	value, ok := r.value(c)
	if !ok {
		c.Exit(401, r.missingBody)
		return
	}
	if _, hit := r.blacklist[value]; hit {
		c.Exit(r.rejectedCode, r.rejectedBody)
		return
	}
	block, whitelisted := false, false
	if r.whitelist != nil {
		_, whitelisted = r.whitelist[value]
		block = !whitelisted
	}
	// As in APISIX, allowed_by_methods decides alone for a value that is not whitelisted: it
	// can let through a value the whitelist does not list.
	if r.methods != nil && !whitelisted {
		block = !r.methodAllowed(value, c.Method())
	}
	if block {
		c.Exit(r.rejectedCode, r.rejectedBody)
	}
}

// methodAllowed: the value's entry must list the method; a value without an entry is allowed.
func (r *Restriction) methodAllowed(value string, method []byte) bool {
	ms, ok := r.methods[value]
	if !ok {
		return true
	}
	for _, m := range ms {
		if m == string(method) {
			return true
		}
	}
	return false
}

func (r *Restriction) value(c plugin.Ctx) (string, bool) {
	switch r.kind {
	case byConsumerName:
		if cr := c.Consumer(); cr != nil && cr.Username != "" {
			return cr.Username, true
		}
	case byConsumerGroupID:
		if cr := c.Consumer(); cr != nil && cr.GroupID != "" {
			return cr.GroupID, true
		}
	case byRouteID:
		if id := c.RouteID(); id != "" {
			return id, true
		}
	case byServiceID:
		if id := c.ServiceID(); id != "" {
			return id, true
		}
	}
	return "", false
}

var _ plugin.Accessor = (*Restriction)(nil)
