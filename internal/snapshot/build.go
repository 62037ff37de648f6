package snapshot

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/store"
	sltls "github.com/sluicegw/sluice/internal/tls"
	"github.com/sluicegw/sluice/internal/upstream"
)

// builder is the compiler's incremental state: the index of raw objects, what changed since
// the last build, and the compiled objects that carry over between snapshots.
type builder struct {
	o   Options
	log *slog.Logger

	ix    *index
	rev   int64
	full  bool                               // rebuild everything (first build, reset, after a panic)
	dirty map[model.Kind]map[string]struct{} // ids changed since the last build

	named  map[string]*compiledUpstream // upstream id → compile
	inline map[string]*compiledUpstream // owner's etcd key → compile of its inline upstream
	upErr  map[string]string            // upstream key → why its current value is not compiled
	routes map[string]*compiledRoute    // route id → compile (also status 0 and skipped routes)
	// deps: a referenced object → the routes whose compile read it (service, plugin_config,
	// upstream directly or through the service). Dangling references are indexed too, so the
	// object's creation recompiles the route.
	deps     map[depKey]map[string]struct{}
	routeErr map[string]string // route key → reason
	order    []*compiledRoute  // routes in the router, by insertion order; nil when stale

	prev *Snapshot

	// Plugin instances by owner key (plugins.go); retiredPlugins are Closed after publish.
	owners         map[string]*pluginOwner
	retiredPlugins []*pluginrt.Instance
	buildNo        int64
	// modIdx: object kind → revision of its latest change; copied into the snapshot when
	// it changed
	modIdx     map[string]int64
	modChanged bool
	// errors of the plugin set's parts, kept while a part is reused
	globalErrs, consumerErrs map[string]string
	// sslErr: ssl id → why it is not served, kept while the ssl objects are unchanged
	sslErr map[string]string
	// streamErr: stream route key → why it is not served as configured (stream.go);
	// streamInline: the stream routes with an inline upstream compiled
	streamErr    map[string]string
	streamInline map[string]bool
}

type depKey struct {
	kind model.Kind
	id   string
}

type compiledUpstream struct {
	rev int64  // named: ModRevision compiled
	raw []byte // inline: the JSON compiled
	up  *upstream.Upstream
}

type compiledRoute struct {
	id    string
	key   string
	seq   int64
	deps  []depKey
	route *Route       // nil: not in the router (status 0, or not compilable)
	rr    router.Route // valid when route != nil
}

func newBuilder(o Options, log *slog.Logger) *builder {
	if o.Enabled == nil {
		o.Enabled = func(string) bool { return true }
	}
	if o.StreamEnabled == nil {
		o.StreamEnabled = func(string) bool { return true }
	}
	return &builder{
		o:        o,
		log:      log,
		ix:       newIndex(o.Prefix),
		full:     true,
		dirty:    map[model.Kind]map[string]struct{}{},
		named:    map[string]*compiledUpstream{},
		inline:   map[string]*compiledUpstream{},
		upErr:    map[string]string{},
		routes:   map[string]*compiledRoute{},
		deps:     map[depKey]map[string]struct{}{},
		routeErr: map[string]string{},
		owners:   map[string]*pluginOwner{},
		modIdx:   map[string]int64{},
		prev:     emptySnapshot(o.RouterMode),

		streamErr:    map[string]string{},
		streamInline: map[string]bool{},
	}
}

// noteModified records rev as the latest change of key's kind (APISIX's per-kind modify
// index, reported by the prometheus plugin).
func (b *builder) noteModified(key string, rev int64) {
	rest, ok := strings.CutPrefix(key, b.o.Prefix+"/")
	if !ok {
		return
	}
	kind, _, _ := strings.Cut(rest, "/")
	if rev > b.modIdx[kind] {
		b.modIdx[kind] = rev
		b.modChanged = true
	}
}

// apply records one store event in the index and the dirty sets.
func (b *builder) apply(ev store.Event) {
	switch ev.Type {
	case store.EventReset:
		clear(b.modIdx)
		for _, kv := range ev.Snapshot {
			b.noteModified(kv.Key, kv.ModRevision)
		}
		b.modChanged = true
		b.ix = rebuildIndex(b.o.Prefix, ev.Snapshot, b.ix, b.o.Decrypt)
		b.full = true
		b.rev = ev.Revision
		for key, reason := range b.ix.bad {
			b.log.Error("configuration object not used", "key", key, "error", reason)
		}
		return
	case store.EventPut:
		b.noteModified(ev.KV.Key, ev.KV.ModRevision)
		if ch, ok := b.ix.put(ev.KV, b.o.Decrypt); ok {
			b.mark(ch)
			if reason, bad := b.ix.bad[ev.KV.Key]; bad {
				b.log.Error("configuration object not used", "key", ev.KV.Key, "error", reason)
			}
		}
	case store.EventDelete:
		b.noteModified(ev.KV.Key, ev.Revision)
		if ch, ok := b.ix.del(ev.KV.Key); ok {
			b.mark(ch)
		}
	}
	b.rev = max(b.rev, ev.Revision)
}

// mark notes a changed object; an error-state-only change still marks it so Errors updates.
func (b *builder) mark(ch change) {
	set := b.dirty[ch.kind]
	if set == nil {
		set = map[string]struct{}{}
		b.dirty[ch.kind] = set
	}
	set[ch.id] = struct{}{}
}

// build makes the next snapshot from the previous one, recompiling only what the dirty sets
// reach. It returns the upstreams to Close once the snapshot is published.
func (b *builder) build() (*Snapshot, []*upstream.Upstream) {
	if b.full {
		b.markAll()
	}
	b.buildNo++
	next := *b.prev
	next.Revision = b.rev
	if b.modChanged || next.ModifyIndexes == nil {
		next.ModifyIndexes = maps.Clone(b.modIdx)
		b.modChanged = false
	}
	var retired []*upstream.Upstream
	routesDirty := map[string]struct{}{}
	dependents := func(kind model.Kind, id string) {
		for rid := range b.deps[depKey{kind, id}] {
			routesDirty[rid] = struct{}{}
		}
	}

	if ids := b.dirty[model.Upstreams]; len(ids) > 0 {
		for id := range ids {
			retired = b.compileNamed(id, retired)
			dependents(model.Upstreams, id)
		}
		next.Upstreams = make(map[string]*upstream.Upstream, len(b.named))
		for id, cu := range b.named {
			next.Upstreams[id] = cu.up
		}
	}
	if ids := b.dirty[model.Services]; len(ids) > 0 {
		for id := range ids {
			retired = b.compileService(id, retired)
			dependents(model.Services, id)
		}
		next.Services = collect(b.ix, model.Services, func(o *object) *model.Service { return o.val.(*model.Service) })
	}
	for id := range b.dirty[model.PluginConfigs] {
		dependents(model.PluginConfigs, id)
	}
	for id := range b.dirty[model.Routes] {
		routesDirty[id] = struct{}{}
	}
	for name := range b.dirty[model.PluginMetadata] {
		// instances of that plugin are compiled with its metadata
		for rid, cr := range b.routes {
			if _, uses := cr.route.pluginsOrNil()[name]; uses {
				routesDirty[rid] = struct{}{}
			}
		}
	}
	for id := range routesDirty {
		retired = b.compileRoute(id, retired)
	}
	var routerErrs map[string]string
	if len(routesDirty) > 0 || b.prev.table == nil {
		next.Router, next.Routes, next.table, routerErrs = b.buildRouter(routesDirty)
	} else {
		routerErrs = b.routerErrs(b.prev)
	}
	if b.full || b.streamDirty() {
		next.Stream, retired = b.buildStream(&next, retired)
	}
	var otherErrs map[string]string
	next.Consumers, next.ConsumerGroups, next.GlobalRules, next.SSLs, next.PluginMetadata, otherErrs = b.buildOthers(&next)
	if len(b.dirty[model.SSLs]) > 0 {
		b.buildTLS(&next)
	}
	for id, reason := range b.sslErr {
		otherErrs[b.o.Prefix+"/ssls/"+id] = reason
	}
	next.Plugins = b.buildPluginSet(&next, otherErrs)
	b.sweepOwners()
	next.Errors = b.errors(routerErrs, otherErrs)

	clear(b.dirty)
	b.full = false
	b.prev = &next
	return &next, retired
}

// markAll marks every object known to the index or compiled before as changed.
func (b *builder) markAll() {
	b.order = nil // insertion sequences were reassigned
	for kind, objs := range b.ix.objs {
		for id := range objs {
			b.mark(change{kind: kind, id: id})
		}
	}
	for id := range b.named {
		b.mark(change{kind: model.Upstreams, id: id})
	}
	for id := range b.routes {
		b.mark(change{kind: model.Routes, id: id})
	}
	for id := range b.prev.Services {
		b.mark(change{kind: model.Services, id: id})
	}
	for _, kind := range []model.Kind{model.Consumers, model.ConsumerGroups, model.GlobalRules, model.SSLs, model.PluginMetadata} {
		b.mark(change{kind: kind, id: ""}) // forces the map to be rebuilt even when now empty
	}
}

// compileNamed compiles upstream id when its ModRevision changed; a failing compile keeps the
// last good one.
func (b *builder) compileNamed(id string, retired []*upstream.Upstream) []*upstream.Upstream {
	o := b.ix.get(model.Upstreams, id)
	cu := b.named[id]
	if o == nil {
		if cu != nil {
			retired = append(retired, cu.up)
			delete(b.named, id)
		}
		delete(b.upErr, b.o.Prefix+"/upstreams/"+id)
		return retired
	}
	if cu != nil && cu.rev == o.kv.ModRevision {
		return retired
	}
	u, err := b.newUpstream(o.key, o.val.(*model.Upstream))
	if err != nil {
		reason := "invalid upstream: " + err.Error()
		if cu != nil {
			reason += "; serving the last good version"
		}
		b.upErr[o.key] = reason
		b.log.Error("upstream not compiled", "key", o.key, "error", err)
		return retired
	}
	delete(b.upErr, o.key)
	if cu != nil {
		retired = append(retired, cu.up)
	}
	b.named[id] = &compiledUpstream{rev: o.kv.ModRevision, up: u}
	return retired
}

func (b *builder) compileService(id string, retired []*upstream.Upstream) []*upstream.Upstream {
	key := b.o.Prefix + "/services/" + id
	o := b.ix.get(model.Services, id)
	if o == nil {
		delete(b.upErr, key)
		return b.dropInline(key, retired)
	}
	_, retired, err := b.compileInline(key, o.val.(*model.Service).Upstream, o.inlineUp, retired)
	if err != nil {
		b.upErr[key] = "invalid upstream: " + err.Error()
		b.log.Error("service upstream not compiled", "key", key, "error", err)
	} else {
		delete(b.upErr, key)
	}
	return retired
}

// compileInline returns the compiled inline upstream of owner, reusing the previous compile
// when its JSON is unchanged. A failing compile keeps the last good one (returned with err).
func (b *builder) compileInline(owner string, spec *model.Upstream, raw []byte, retired []*upstream.Upstream) (*upstream.Upstream, []*upstream.Upstream, error) {
	cu := b.inline[owner]
	if spec == nil {
		return nil, b.dropInline(owner, retired), nil
	}
	if cu != nil && bytes.Equal(cu.raw, raw) {
		return cu.up, retired, nil
	}
	u, err := b.newUpstream(owner+"#upstream", spec)
	if err != nil {
		if cu != nil {
			return cu.up, retired, err
		}
		return nil, retired, err
	}
	if cu != nil {
		retired = append(retired, cu.up)
	}
	b.inline[owner] = &compiledUpstream{raw: raw, up: u}
	return u, retired, nil
}

func (b *builder) dropInline(owner string, retired []*upstream.Upstream) []*upstream.Upstream {
	if cu := b.inline[owner]; cu != nil {
		retired = append(retired, cu.up)
		delete(b.inline, owner)
	}
	return retired
}

func (b *builder) addDeps(rid string, deps []depKey) {
	for _, d := range deps {
		set := b.deps[d]
		if set == nil {
			set = map[string]struct{}{}
			b.deps[d] = set
		}
		set[rid] = struct{}{}
	}
}

func (b *builder) removeDeps(rid string, deps []depKey) {
	for _, d := range deps {
		if set := b.deps[d]; set != nil {
			delete(set, rid)
			if len(set) == 0 {
				delete(b.deps, d)
			}
		}
	}
}

// buildRouter indexes the served routes in APISIX's insertion order: key order at the first
// list (or reset), then creation order.
// Routes is patched from the previous snapshot's map for the dirty ids (a clone is much cheaper
// than 10k inserts); whether the router skips a route depends on that route alone.
func (b *builder) buildRouter(dirty map[string]struct{}) (*router.Router, map[string]*Route, []router.Route, map[string]string) {
	if b.order == nil {
		b.order = make([]*compiledRoute, 0, len(b.routes))
		for _, cr := range b.routes {
			if cr.route != nil {
				b.order = append(b.order, cr)
			}
		}
		slices.SortFunc(b.order, func(x, y *compiledRoute) int { return int(x.seq - y.seq) })
	}
	table := make([]router.Route, len(b.order))
	for i, cr := range b.order {
		table[i] = cr.rr
	}
	r, errs := router.Build(table, router.Options{Mode: b.o.RouterMode})
	var routes map[string]*Route
	if b.full || b.prev.table == nil {
		routes = make(map[string]*Route, len(b.order))
		for _, cr := range b.order {
			routes[cr.id] = cr.route
		}
	} else {
		routes = maps.Clone(b.prev.Routes)
		for id := range dirty {
			if cr := b.routes[id]; cr != nil && cr.route != nil {
				routes[id] = cr.route
			} else {
				delete(routes, id)
			}
		}
	}
	for id := range errs {
		delete(routes, id)
	}
	out := map[string]string{}
	for id, err := range errs {
		key := b.o.Prefix + "/routes/" + id
		out[key] = "route not indexed: " + err.Error()
		b.log.Error("route not served", "key", key, "error", err)
	}
	return r, routes, table, out
}

// routerErrs recovers the router's skips from a snapshot that is reused as is.
func (b *builder) routerErrs(s *Snapshot) map[string]string {
	out := map[string]string{}
	for k, v := range s.Errors {
		if strings.HasPrefix(v, "route not indexed: ") {
			out[k] = v
		}
	}
	return out
}

// buildOthers rebuilds the maps of the remaining kinds when any of them changed.
func (b *builder) buildOthers(prev *Snapshot) (map[string]*Consumer, map[string]*model.PluginSet, map[string]*GlobalRule, map[string]json.RawMessage, map[string]json.RawMessage, map[string]string) {
	consumers, groups, rules, ssls, meta := prev.Consumers, prev.ConsumerGroups, prev.GlobalRules, prev.SSLs, prev.PluginMetadata
	errs := map[string]string{}
	if len(b.dirty[model.Consumers]) > 0 || len(b.dirty[model.Credentials]) > 0 || b.full {
		consumers = map[string]*Consumer{}
		for name, o := range b.ix.objs[model.Consumers] {
			consumers[name] = &Consumer{Username: name, Key: o.key, Spec: o.val.(*model.Consumer), Credentials: map[string]*model.Credential{}}
		}
	}
	// Orphan credentials are reported whether or not consumers changed this time.
	for id, o := range b.ix.objs[model.Credentials] {
		user, cid, _ := strings.Cut(id, "/")
		if c := consumers[user]; c != nil {
			c.Credentials[cid] = o.val.(*model.Credential)
		} else {
			errs[o.key] = "consumer " + user + " not found"
		}
	}
	if len(b.dirty[model.ConsumerGroups]) > 0 {
		groups = collect(b.ix, model.ConsumerGroups, func(o *object) *model.PluginSet { return o.val.(*model.PluginSet) })
	}
	if len(b.dirty[model.GlobalRules]) > 0 {
		rules = collect(b.ix, model.GlobalRules, func(o *object) *GlobalRule {
			ps := o.val.(*model.PluginSet)
			return &GlobalRule{ID: o.id, Key: o.key, Plugins: ps.Plugins, Unsupported: b.unsupported(ps.Plugins)}
		})
	}
	for _, g := range rules {
		if g.Unsupported != "" {
			errs[g.Key] = unsupportedReason(g.Unsupported)
		}
	}
	if len(b.dirty[model.SSLs]) > 0 {
		ssls = collect(b.ix, model.SSLs, func(o *object) json.RawMessage { return o.val.(json.RawMessage) })
	}
	if len(b.dirty[model.PluginMetadata]) > 0 {
		meta = collect(b.ix, model.PluginMetadata, func(o *object) json.RawMessage { return o.val.(json.RawMessage) })
	}
	return consumers, groups, rules, ssls, meta, errs
}

func collect[T any](ix *index, kind model.Kind, f func(*object) T) map[string]T {
	out := make(map[string]T, len(ix.objs[kind]))
	for id, o := range ix.objs[kind] {
		out[id] = f(o)
	}
	return out
}

func (b *builder) errors(parts ...map[string]string) map[string]string {
	out := maps.Clone(b.ix.bad)
	maps.Copy(out, b.upErr)
	maps.Copy(out, b.routeErr)
	maps.Copy(out, b.streamErr)
	for _, p := range parts {
		maps.Copy(out, p)
	}
	return out
}

// buildTLS compiles the ssl objects for the HTTPS listeners. An object that does not compile
// is left out (its names then fail the handshake) and reported; the others serve.
func (b *builder) buildTLS(next *Snapshot) {
	st, errs := sltls.Build(next.SSLs, b.o.TLS)
	for id, reason := range errs {
		if b.sslErr[id] != reason {
			b.log.Error("ssl not served", "key", b.o.Prefix+"/ssls/"+id, "error", reason)
		}
	}
	next.TLS, b.sslErr = st, errs
}
