// Package limitcount is APISIX's limit-count plugin: it limits the number of requests per key
// in a fixed or sliding time window, counted on this node (policy local) or in Redis (redis,
// redis-cluster, redis-sentinel, shared by every gateway node), and reports the quota in
// X-RateLimit-* headers. Schemas come from apisix/plugins/limit-count.lua and
// reference/plugins.md; docs/plugins/limit-count.md is the manual.
package limitcount

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/redispolicy"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/limit-count.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// APISIX's if/then/else on policy relies on its validator injecting the `local` default first; the
// `if` here also requires `policy`, so a validator that does not inject defaults reads an absent
// policy as local too.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "limit-count",
		Priority:       1002,
		Version:        "0.5",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"redis_password", "sentinel_password"},
		DefaultEnabled: true,
		New:            New,
	})
}

type ruleConf struct {
	Count        json.RawMessage `json:"count"`
	TimeWindow   json.RawMessage `json:"time_window"`
	Key          string          `json:"key"`
	HeaderPrefix string          `json:"header_prefix,omitempty"`
}

// conf is the plugin conf with APISIX's defaults applied by defaults(). Its JSON encoding is
// what a group's confs are compared by ("group conf mismatched").
type conf struct {
	Count                json.RawMessage `json:"count,omitempty"`
	TimeWindow           json.RawMessage `json:"time_window,omitempty"`
	Rules                []ruleConf      `json:"rules,omitempty"`
	WindowType           string          `json:"window_type"`
	Group                string          `json:"group,omitempty"`
	Key                  string          `json:"key"`
	KeyType              string          `json:"key_type"`
	RejectedCode         int             `json:"rejected_code"`
	RejectedMsg          *string         `json:"rejected_msg,omitempty"`
	Policy               string          `json:"policy"`
	AllowDegradation     bool            `json:"allow_degradation"`
	ShowLimitQuotaHeader *bool           `json:"show_limit_quota_header"`
	SyncInterval         *float64        `json:"sync_interval"`
	redispolicy.Conf
}

func (c *conf) defaults() {
	if c.WindowType == "" {
		c.WindowType = "fixed"
	}
	if c.Key == "" {
		c.Key = "remote_addr"
	}
	if c.KeyType == "" {
		c.KeyType = "var"
	}
	if c.RejectedCode == 0 {
		c.RejectedCode = 503
	}
	if c.Policy == "" {
		c.Policy = "local"
	}
	if c.ShowLimitQuotaHeader == nil {
		t := true
		c.ShowLimitQuotaHeader = &t
	}
	if c.SyncInterval == nil {
		d := -1.0
		c.SyncInterval = &d
	}
}

type metadata struct {
	LimitHeader     string `json:"limit_header"`
	RemainingHeader string `json:"remaining_header"`
	ResetHeader     string `json:"reset_header"`
}

// New compiles one conf. Counters live in a store shared by every instance with the same
// identity (group, or parent + conf version) and are freed when the last one is closed.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	var c conf
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("limit-count: %w", err)
	}
	c.defaults()
	if err := check(&c); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	md := metadata{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
	if len(env.Metadata) > 0 {
		if err := json.Unmarshal(env.Metadata, &md); err != nil {
			return nil, fmt.Errorf("limit-count: plugin_metadata: %w", err)
		}
	}

	lc := &LimitCount{
		rejectedCode:     c.RejectedCode,
		showHeaders:      *c.ShowLimitQuotaHeader,
		allowDegradation: c.AllowDegradation,
		sliding:          c.WindowType == "sliding",
		log:              log.With("plugin", "limit-count"),
	}
	if c.RejectedMsg != nil {
		lc.rejectedBody = plugin.JSON(map[string]string{"error_msg": *c.RejectedMsg})
	}
	if c.Rules == nil {
		r, err := newRule(c.Count, c.TimeWindow, "", md)
		if err != nil {
			return nil, err
		}
		switch c.KeyType {
		case "constant":
			r.keyKind, r.keyConst = keyConstant, c.Key
		case "var_combination":
			r.keyKind, r.keyTmpl = keyTemplate, vartemplate.Compile(c.Key)
		default:
			r.keyKind, r.keyVar = keyVar, plugin.ParseVar(c.Key)
		}
		lc.rules = []*rule{r}
	} else {
		lc.multi = true
		for i, rc := range c.Rules {
			prefix := rc.HeaderPrefix
			if prefix == "" {
				prefix = fmt.Sprint(i + 1)
			}
			r, err := newRule(rc.Count, rc.TimeWindow, prefix, md)
			if err != nil {
				return nil, fmt.Errorf("rules[%d]: %w", i, err)
			}
			r.keyKind, r.keyTmpl = keyTemplate, vartemplate.Compile(rc.Key)
			lc.rules = append(lc.rules, r)
		}
	}

	canon, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("limit-count: %w", err)
	}
	if c.Group != "" {
		lc.prefix = c.Group + ":"
	} else {
		lc.prefix = env.Parent + ":" + confVersion(raw) + ":"
	}
	var cl *redispolicy.Client
	if c.Policy != "local" {
		if cl, err = c.Conf.Acquire(c.Policy); err != nil {
			return nil, fmt.Errorf("limit-count: %w", err)
		}
		lc.redis = cl
		lc.cluster = c.Policy == redispolicy.PolicyRedisCluster
	}
	var delayed func() *delayedSync
	if si := *c.SyncInterval; cl != nil && si > 0 && !lc.sliding {
		interval := time.Duration(si * float64(time.Second))
		delayed = func() *delayedSync {
			// The syncer holds its own reference: it outlives this instance when others share it.
			own, _ := c.Conf.Acquire(c.Policy)
			return newDelayedSync(own, interval, lc.log)
		}
		lc.syncInterval = interval
	}
	st, err := acquireState(lc.prefix, c.Group, string(canon), len(lc.rules), c.Policy == "local", delayed)
	if err != nil {
		cl.Release()
		return nil, err
	}
	lc.state = st
	for i, r := range lc.rules {
		if st.local != nil {
			r.local = st.local[i]
		}
	}
	return lc, nil
}

// check makes limit-count's check_schema tests beyond the JSON Schema, with its texts.
func check(c *conf) error {
	if c.Rules != nil && (c.Count != nil || c.TimeWindow != nil) {
		return errors.New("count/time_window and rules cannot be specified at the same time")
	}
	if c.Rules != nil && c.Group != "" {
		return errors.New("group and rules cannot be specified at the same time")
	}
	if c.Rules == nil && (c.Count == nil || c.TimeWindow == nil) {
		return errors.New("count and time_window (or rules) are required")
	}
	seen := map[string]bool{}
	for _, r := range c.Rules {
		if seen[r.Key] {
			return fmt.Errorf("duplicate key '%s' in rules", r.Key)
		}
		seen[r.Key] = true
	}
	if si := *c.SyncInterval; si != -1 {
		if si < 0.1 {
			return errors.New("sync_interval should not be smaller than 0.1")
		}
		var tw int64
		if json.Unmarshal(c.TimeWindow, &tw) == nil && si >= float64(tw) {
			return errors.New("sync_interval should be smaller than time_window")
		}
	}
	return nil
}

// confVersion is APISIX's plugin.conf_version: crc32 of the conf encoded with sorted keys, so
// the same conf gives the same counter key on every node.
func confVersion(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err == nil {
		if b, err := json.Marshal(v); err == nil {
			raw = b
		}
	}
	return fmt.Sprint(crc32.ChecksumIEEE(raw))
}

// headerName derives a rule's header name: APISIX replaces the first "RateLimit-" with
// "<prefix>-RateLimit-" (X-RateLimit-Limit → X-1-RateLimit-Limit).
func headerName(base, prefix string) string {
	if prefix == "" {
		return base
	}
	return strings.Replace(base, "RateLimit-", prefix+"-RateLimit-", 1)
}

// state is what instances of one identity share: the local counters and, for a group, the
// conf every member must have. Keyed by identity in a process-global registry, because
// counters must outlive a snapshot swap (an instance whose conf did not change is rebuilt or
// carried over, and its counters must not reset); only New and Close take its lock.
type state struct {
	id    string
	canon string
	refs  int
	local []*counterMap // per rule; nil for Redis policies
	// delayed is the sync_interval syncer of a Redis policy (nil without one).
	delayed *delayedSync
}

var (
	statesMu sync.Mutex
	states   = map[string]*state{}
)

func acquireState(id, group, canon string, rules int, local bool, delayed func() *delayedSync) (*state, error) {
	statesMu.Lock()
	defer statesMu.Unlock()
	// One identity is one conf: the conf version is in a non-group id, and a group's members
	// must have the group's conf (policy included).
	if st, ok := states[id]; ok {
		if group != "" && st.canon != canon {
			return nil, errors.New("group conf mismatched")
		}
		st.refs++
		return st, nil
	}
	st := &state{id: id, canon: canon, refs: 1}
	if delayed != nil {
		st.delayed = delayed()
	}
	if local {
		st.local = make([]*counterMap, rules)
		for i := range st.local {
			st.local[i] = newCounterMap()
		}
	}
	states[id] = st
	return st, nil
}

func (st *state) release() {
	statesMu.Lock()
	defer statesMu.Unlock()
	st.refs--
	if st.refs == 0 && states[st.id] == st {
		delete(states, st.id)
	}
	if st.refs == 0 && st.delayed != nil {
		// Stopping syncs once more; not under statesMu's hold for long: one Redis round per key.
		go st.delayed.close()
	}
}
