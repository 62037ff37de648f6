package pluginrt

import (
	"net/http"

	"github.com/sluicegw/sluice/plugin"
)

type phase uint8

const (
	phaseRewrite phase = iota
	phaseAccess
	phaseBeforeProxy
	phaseHeaderFilter
	phaseLog
)

// State is one request's plugin state. An engine keeps one in its pooled request context,
// calls Begin once the snapshot (and route) are known, runs the phases through it, and
// Reset when the request ends. Its methods back the engine's plugin.Ctx for Consumer,
// AttachConsumer, Credentials, Set and Get.
type State struct {
	set     *Set
	matched bool
	route   *Chain // the route's own chain
	chain   *Chain // what runs for the route: route, or the consumer-merged chain
	merged  bool

	consumer *plugin.Consumer
	cur      *Instance // the plugin running now (Credentials)
	filters  []filterResult
	values   map[any]any
}

type filterResult struct {
	in   *Instance
	pass bool
}

// Begin starts a request against set; route is the matched route's chain (nil when it has
// no plugins), matched false for a request no route matched (only global rules run).
func (s *State) Begin(set *Set, matched bool, route *Chain) {
	s.set, s.matched, s.route, s.chain = set, matched, route, route
}

// Reset clears the state for the next request, keeping its buffers.
func (s *State) Reset() {
	clear(s.filters)
	clear(s.values)
	*s = State{filters: s.filters[:0], values: s.values}
}

// Active reports whether any plugin may run for the request.
func (s *State) Active() bool {
	return s.set != nil && (s.set.Global != nil || s.chain != nil || s.set.GlobalBroken != "")
}

// Chain is what runs for the route now (consumer-merged once a consumer was attached).
func (s *State) Chain() *Chain { return s.chain }

// HasBodyFilters reports whether a body_filter may run on the response.
func (s *State) HasBodyFilters() bool {
	return s.set != nil && (s.set.Global.HasBodyFilters() || s.chain.HasBodyFilters())
}

func (s *State) global() *Chain {
	if s.set == nil {
		return nil
	}
	return s.set.Global
}

// Consumer is the consumer attached by an auth plugin, nil before.
func (s *State) Consumer() *plugin.Consumer { return s.consumer }

// AttachConsumer records the authenticated consumer; its plugins merge in after the route's
// rewrite phase.
func (s *State) AttachConsumer(c *plugin.Consumer) { s.consumer = c }

// Credentials is the running auth plugin's index for this snapshot.
func (s *State) Credentials() any {
	if s.cur == nil || s.set == nil {
		return nil
	}
	return s.set.Indexes[s.cur.Name]
}

// Set stores a per-request value.
func (s *State) Set(key, value any) {
	if s.values == nil {
		s.values = make(map[any]any, 4)
	}
	s.values[key] = value
}

// Get returns a per-request value.
func (s *State) Get(key any) any { return s.values[key] }

// pass evaluates the plugin's _meta.filter once per request; false skips it in every phase.
// A global rule's prefer_route plugin is skipped when the matched route has its own copy.
func (s *State) pass(in *Instance, c plugin.Ctx) bool {
	if in.Source == FromGlobalRule && in.Def.RunPolicy == "prefer_route" && s.routeHas(in.Name) {
		return false
	}
	if in.filter == nil {
		return true
	}
	for _, f := range s.filters {
		if f.in == in {
			return f.pass
		}
	}
	p := in.filter.Eval(c)
	s.filters = append(s.filters, filterResult{in, p})
	return p
}

// run calls one request phase on plugins in order and reports whether one ended the request.
// _meta.error_response replaces the body of an exit with a status of 400 or more.
func (s *State) run(plugins []*Instance, ph phase, c plugin.Ctx) bool {
	for _, in := range plugins {
		switch ph {
		case phaseRewrite:
			if in.rewrite == nil || !s.pass(in, c) {
				continue
			}
			s.cur = in
			in.rewrite.Rewrite(c)
		case phaseAccess:
			if in.access == nil || !s.pass(in, c) {
				continue
			}
			s.cur = in
			in.access.Access(c)
		case phaseBeforeProxy:
			if in.beforeProxy == nil || !s.pass(in, c) {
				continue
			}
			s.cur = in
			in.beforeProxy.BeforeProxy(c)
		}
		s.cur = nil
		if c.Exited() {
			if in.errorResponse != nil && c.Status() >= http.StatusBadRequest {
				c.Exit(c.Status(), in.errorResponse)
			}
			return true
		}
	}
	return false
}

func plugins(c *Chain) []*Instance {
	if c == nil {
		return nil
	}
	return c.Plugins
}

// RunRewrite runs the rewrite phase as APISIX 3.18 does: global rules, then the route's
// chain (auth plugins attach the consumer here), then — when a consumer was attached on a
// matched route — merges its group's and its own plugins over the route's and runs rewrite
// for the newly added non-auth ones. It reports whether a plugin ended the request.
func (s *State) RunRewrite(c plugin.Ctx) bool {
	if s.set != nil && s.set.GlobalBroken != "" {
		c.Exit(http.StatusServiceUnavailable, nil)
		return true
	}
	if s.run(plugins(s.global()), phaseRewrite, c) {
		return true
	}
	if !s.matched {
		return false
	}
	if s.run(plugins(s.route), phaseRewrite, c) {
		return true
	}
	if s.consumer == nil || s.merged || s.set == nil {
		return false
	}
	s.merged = true
	if cp := s.set.Consumers[s.consumer.Username]; cp != nil && cp.Broken != "" {
		c.Exit(http.StatusServiceUnavailable, nil) // fail closed, as a route would
		return true
	}
	m := s.set.Merged(s.route, s.consumer.Username)
	s.chain = m.Chain
	return s.run(m.Added, phaseRewrite, c)
}

// RunAccess runs the access phase: global rules, then the route's (merged) chain.
func (s *State) RunAccess(c plugin.Ctx) bool {
	if s.run(plugins(s.global()), phaseAccess, c) {
		return true
	}
	return s.matched && s.run(plugins(s.chain), phaseAccess, c)
}

// RunBeforeProxy runs before_proxy (global, then route); the engine calls it after the
// upstream node was picked, on every try.
func (s *State) RunBeforeProxy(c plugin.Ctx) bool {
	if s.run(plugins(s.global()), phaseBeforeProxy, c) {
		return true
	}
	return s.matched && s.run(plugins(s.chain), phaseBeforeProxy, c)
}

// RunHeaderFilter runs header_filter for every selected plugin (also after an exit).
func (s *State) RunHeaderFilter(c plugin.Ctx) { s.each(phaseHeaderFilter, c) }

// RunLog runs log for every selected plugin.
func (s *State) RunLog(c plugin.Ctx) { s.each(phaseLog, c) }

func (s *State) each(ph phase, c plugin.Ctx) {
	for _, ch := range [2]*Chain{s.global(), s.chainIfMatched()} {
		for _, in := range plugins(ch) {
			switch ph {
			case phaseHeaderFilter:
				if in.headerFilter == nil || !s.pass(in, c) {
					continue
				}
				s.cur = in
				in.headerFilter.HeaderFilter(c)
			case phaseLog:
				if in.logger == nil || !s.pass(in, c) {
					continue
				}
				s.cur = in
				in.logger.Log(c)
			}
			s.cur = nil
		}
	}
}

// routeHas reports whether the matched route's chain runs the plugin name.
func (s *State) routeHas(name string) bool {
	ch := s.chainIfMatched()
	return ch != nil && ch.index[name] != nil
}

func (s *State) chainIfMatched() *Chain {
	if !s.matched {
		return nil
	}
	return s.chain
}

// RunBodyFilter passes one chunk of the response body through every selected body filter,
// each getting the previous one's output; eof marks the last call.
func (s *State) RunBodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	for _, ch := range [2]*Chain{s.global(), s.chainIfMatched()} {
		if !ch.HasBodyFilters() {
			continue
		}
		for _, in := range ch.Plugins {
			if in.bodyFilter == nil || !s.pass(in, c) {
				continue
			}
			s.cur = in
			chunk = in.bodyFilter.BodyFilter(c, chunk, eof)
			s.cur = nil
		}
	}
	return chunk
}
