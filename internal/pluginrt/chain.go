package pluginrt

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// Chain is the plugins one object list runs, sorted by priority, highest first (name breaks
// ties, so the order is stable). A nil *Chain is an empty chain.
type Chain struct {
	Plugins []*Instance
	// bodyFilters: some plugin has a body_filter (the engine must not announce the upstream's
	// Content-Length then).
	bodyFilters bool
	index       map[string]*Instance
}

// NewChain sorts insts (nil entries are skipped) into a chain; nil when nothing is left.
func NewChain(insts []*Instance) *Chain {
	ps := make([]*Instance, 0, len(insts))
	for _, in := range insts {
		if in != nil {
			ps = append(ps, in)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b *Instance) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	c := &Chain{Plugins: ps, index: make(map[string]*Instance, len(ps))}
	for _, in := range ps {
		c.index[in.Name] = in
		c.bodyFilters = c.bodyFilters || in.bodyFilter != nil
	}
	return c
}

// Len is the number of plugins.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.Plugins)
}

// Plugins0 returns the plugins in order; nil for a nil chain.
func (c *Chain) Plugins0() []*Instance {
	if c == nil {
		return nil
	}
	return c.Plugins
}

// Get returns the plugin of that name.
func (c *Chain) Get(name string) *Instance {
	if c == nil {
		return nil
	}
	return c.index[name]
}

// HasBodyFilters reports whether some plugin of the chain filters the response body.
func (c *Chain) HasBodyFilters() bool { return c != nil && c.bodyFilters }

// GlobalChain merges the global rules' plugins into one chain, rules in id order. A plugin
// configured in two rules runs in neither (APISIX drops it with an error log).
func GlobalChain(rules [][]*Instance, log *slog.Logger) *Chain {
	byName := map[string]*Instance{}
	dup := map[string]bool{}
	var order []string
	for _, rule := range rules {
		for _, in := range rule {
			if in == nil {
				continue
			}
			if _, seen := byName[in.Name]; seen || dup[in.Name] {
				if !dup[in.Name] && log != nil {
					log.Error("plugin configured across different global rules: removing it from execution list", "plugin", in.Name)
				}
				dup[in.Name] = true
				delete(byName, in.Name)
				continue
			}
			byName[in.Name] = in
			order = append(order, in.Name)
		}
	}
	list := make([]*Instance, 0, len(byName))
	for _, name := range order {
		if in := byName[name]; in != nil {
			list = append(list, in)
		}
	}
	return NewChain(list)
}

// ConsumerPlugins are the non-auth plugins a consumer brings (its group's, then its own).
type ConsumerPlugins struct {
	Group    *Chain
	Consumer *Chain
	// Broken names why the consumer's plugins cannot run (a plugin without behaviour, or a
	// conf whose New failed): requests authenticated as it fail closed with 503.
	Broken string
}

// Merged is a route chain with a consumer's plugins merged over it.
type Merged struct {
	Chain *Chain
	// Added are the merged plugins whose name the route chain lacked, non-auth, by default
	// priority: their rewrite runs after the route's (APISIX's rewrite_in_consumer).
	Added []*Instance
}

// MergeConsumer applies Consumer > Consumer Group > Route precedence by plugin name.
func MergeConsumer(route *Chain, cp *ConsumerPlugins) *Merged {
	if cp == nil || cp.Group.Len()+cp.Consumer.Len() == 0 {
		return &Merged{Chain: route}
	}
	var list []*Instance
	byName := map[string]int{}
	add := func(c *Chain, consumer bool) {
		if c == nil {
			return
		}
		for _, in := range c.Plugins {
			if consumer && in.Auth() {
				continue // a credential (or inert in a group), never merged
			}
			if i, ok := byName[in.Name]; ok {
				list[i] = in
				continue
			}
			byName[in.Name] = len(list)
			list = append(list, in)
		}
	}
	add(route, false)
	add(cp.Group, true)
	add(cp.Consumer, true)
	m := &Merged{Chain: NewChain(list)}
	if m.Chain != nil {
		for _, in := range m.Chain.Plugins {
			if route.Get(in.Name) == nil && !in.Auth() {
				m.Added = append(m.Added, in)
			}
		}
	}
	// _meta.priority does not reorder the rewrite_in_consumer pass.
	slices.SortStableFunc(m.Added, func(a, b *Instance) int { return cmp.Compare(b.Def.Priority, a.Def.Priority) })
	return m
}

// Set is the plugin side of one snapshot: the global chain, the consumers' plugins, the auth
// indexes, and the memo of consumer-merged route chains.
type Set struct {
	Global *Chain
	// GlobalBroken says why a global rule cannot run as configured: every request then
	// fails closed (503) rather than skipping it.
	GlobalBroken string
	Consumers    map[string]*ConsumerPlugins // by username
	// Indexes holds each auth plugin's Definition.Index result, by plugin name.
	Indexes map[string]any

	memo      sync.Map // memoKey → *Merged
	memoCount atomic.Int64
}

// MaxMemo bounds the consumer-merged chains a Set keeps; past it merges are computed per
// request (correct, slower) rather than growing without bound.
const MaxMemo = 16384

type memoKey struct {
	route    *Chain
	consumer string
}

// Merged returns route merged with the consumer's plugins, memoized per (route, consumer).
func (s *Set) Merged(route *Chain, consumer string) *Merged {
	cp := s.Consumers[consumer]
	k := memoKey{route, consumer}
	if v, ok := s.memo.Load(k); ok {
		return v.(*Merged)
	}
	m := MergeConsumer(route, cp)
	if s.memoCount.Load() < MaxMemo {
		if _, loaded := s.memo.LoadOrStore(k, m); !loaded {
			s.memoCount.Add(1)
		}
	}
	return m
}
