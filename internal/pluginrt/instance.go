// Package pluginrt is the plugin runtime: compiled plugin instances, the chains they form
// (route ∪ plugin_config ∪ service, global rules, consumer-merged), and the phase runners that
// execute a chain against one request in APISIX 3.18's order. It is engine-neutral: the proxy
// hands it a plugin.Ctx and keeps a State per request.
package pluginrt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
)

// Source says which object a plugin conf came from (the control API shows it).
type Source string

const (
	FromRoute         Source = "route"
	FromService       Source = "service"
	FromPluginConfig  Source = "plugin_config"
	FromConsumer      Source = "consumer"
	FromConsumerGroup Source = "consumer_group"
	FromGlobalRule    Source = "global_rule"
)

// Instance is one compiled plugin conf: what Definition.New returned plus the runtime's view
// of its `_meta`. It is immutable and shared by every snapshot and chain that uses it (it
// carries over by pointer while its conf and parent are unchanged).
type Instance struct {
	Name   string
	Def    *plugin.Definition
	Source Source
	Parent string // etcd key of the owning object
	// Priority is `_meta.priority` when set, else the plugin's default.
	Priority int
	Impl     any

	filter        *expr.Expr // nil: always runs
	errorResponse []byte     // nil: keep the plugin's body

	rewrite      plugin.Rewriter
	access       plugin.Accessor
	beforeProxy  plugin.BeforeProxier
	headerFilter plugin.HeaderFilterer
	bodyFilter   plugin.BodyFilterer
	logger       plugin.Logger

	// holds counts the long sessions (stream connections) using the instance: Close waits
	// for the last one, so a session outliving its snapshot keeps working state (counters,
	// log queues) until it ends.
	holds     atomic.Int64
	closing   atomic.Bool
	closeOnce sync.Once
}

// Auth reports an authentication plugin (its consumer confs are credentials, never merged).
func (in *Instance) Auth() bool { return in.Def != nil && in.Def.Type == "auth" }

// HasFilter reports a `_meta.filter`.
func (in *Instance) HasFilter() bool { return in.filter != nil }

// Phases lists the phases the instance implements, in order.
func (in *Instance) Phases() []string {
	var out []string
	for _, p := range []struct {
		ok   bool
		name string
	}{
		{in.rewrite != nil, "rewrite"}, {in.access != nil, "access"},
		{in.beforeProxy != nil, "before_proxy"}, {in.headerFilter != nil, "header_filter"},
		{in.bodyFilter != nil, "body_filter"}, {in.logger != nil, "log"},
	} {
		if p.ok {
			out = append(out, p.name)
		}
	}
	return out
}

// Close releases the plugin's resources when it implements plugin.Closer, at once or, while
// sessions hold the instance, when the last one lets go.
func (in *Instance) Close() {
	in.closing.Store(true)
	if in.holds.Load() == 0 {
		in.closeNow()
	}
}

// Hold keeps the instance open for a session until the returned release is called.
func (in *Instance) Hold() (release func()) {
	in.holds.Add(1)
	return func() {
		if in.holds.Add(-1) == 0 && in.closing.Load() {
			in.closeNow()
		}
	}
}

func (in *Instance) closeNow() {
	in.closeOnce.Do(func() {
		if c, ok := in.Impl.(plugin.Closer); ok {
			c.Close()
		}
	})
}

// Meta is APISIX's `_meta` of a plugin conf.
type Meta struct {
	Disable       bool            `json:"disable"`
	Priority      *int            `json:"priority"`
	Filter        json.RawMessage `json:"filter"`
	ErrorResponse json.RawMessage `json:"error_response"`
}

// ParseMeta reads `_meta` from conf and returns conf without it (what the plugin's New sees).
func ParseMeta(conf json.RawMessage) (Meta, json.RawMessage, error) {
	var m Meta
	if !bytes.Contains(conf, []byte(`"_meta"`)) {
		return m, conf, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(conf, &obj); err != nil {
		return m, conf, err
	}
	raw, ok := obj["_meta"]
	if !ok {
		return m, conf, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, conf, fmt.Errorf("_meta: %w", err)
	}
	delete(obj, "_meta")
	stripped, err := json.Marshal(obj)
	if err != nil {
		return m, conf, err
	}
	return m, stripped, nil
}

// Compile builds the instance of def for one conf. A conf with `_meta.disable: true` returns
// nil, nil: the plugin is dropped from every chain.
func Compile(def *plugin.Definition, conf json.RawMessage, src Source, env plugin.Env) (*Instance, error) {
	meta, stripped, err := ParseMeta(conf)
	if err != nil {
		return nil, err
	}
	if meta.Disable {
		return nil, nil
	}
	if def.New == nil {
		return nil, fmt.Errorf("plugin %s has no behaviour in this build", def.Name)
	}
	in := &Instance{Name: def.Name, Def: def, Source: src, Parent: env.Parent, Priority: def.Priority}
	if meta.Priority != nil {
		in.Priority = *meta.Priority
	}
	if len(meta.Filter) > 0 && string(meta.Filter) != "null" {
		var rule any
		if err := json.Unmarshal(meta.Filter, &rule); err != nil {
			return nil, fmt.Errorf("_meta.filter: %w", err)
		}
		if in.filter, err = expr.Compile(rule); err != nil {
			return nil, fmt.Errorf("failed to validate the 'vars' expression: %w", err)
		}
	}
	if r := bytes.TrimSpace(meta.ErrorResponse); len(r) > 0 && string(r) != "null" {
		if r[0] == '"' {
			var s string
			if err := json.Unmarshal(r, &s); err != nil {
				return nil, fmt.Errorf("_meta.error_response: %w", err)
			}
			in.errorResponse = []byte(s)
		} else {
			var v any
			if err := json.Unmarshal(r, &v); err != nil {
				return nil, fmt.Errorf("_meta.error_response: %w", err)
			}
			in.errorResponse = plugin.JSON(v)
		}
	}
	if in.Impl, err = def.New(stripped, env); err != nil {
		return nil, err
	}
	in.bind()
	return in, nil
}

// NewInstance wraps an already built implementation (tests, and plugins compiled elsewhere).
func NewInstance(def *plugin.Definition, impl any, src Source, parent string) *Instance {
	in := &Instance{Name: def.Name, Def: def, Source: src, Parent: parent, Priority: def.Priority, Impl: impl}
	in.bind()
	return in
}

func (in *Instance) bind() {
	in.rewrite, _ = in.Impl.(plugin.Rewriter)
	in.access, _ = in.Impl.(plugin.Accessor)
	in.beforeProxy, _ = in.Impl.(plugin.BeforeProxier)
	in.headerFilter, _ = in.Impl.(plugin.HeaderFilterer)
	in.bodyFilter, _ = in.Impl.(plugin.BodyFilterer)
	in.logger, _ = in.Impl.(plugin.Logger)
}
