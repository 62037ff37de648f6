package snapshot

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// compileRoute (re)compiles route id from the index and keeps the dependency index, the
// router order and the route's error entry in step.
func (b *builder) compileRoute(id string, retired []*upstream.Upstream) []*upstream.Upstream {
	o := b.ix.get(model.Routes, id)
	cr := b.routes[id]
	key := b.o.Prefix + "/routes/" + id
	if cr != nil {
		b.removeDeps(id, cr.deps)
	}
	delete(b.routeErr, key)
	if o == nil {
		if cr != nil && cr.route != nil {
			b.order = nil
		}
		delete(b.routes, id)
		return b.dropInline(key, retired)
	}
	wasServed := cr != nil && cr.route != nil
	if cr == nil {
		cr = &compiledRoute{id: id}
		b.routes[id] = cr
	}
	cr.key, cr.seq = o.key, o.seq

	spec := o.val.(*model.Route)
	var svc *model.Service
	var svcObj *object
	if spec.ServiceID != "" {
		if svcObj = b.ix.get(model.Services, string(spec.ServiceID)); svcObj != nil {
			svc = svcObj.val.(*model.Service)
		}
	}
	cr.deps = routeDeps(spec, svc)
	b.addDeps(id, cr.deps)

	var rt *Route
	var rr router.Route
	var err error
	if spec.Status != nil && *spec.Status == 0 {
		retired = b.dropInline(key, retired) // disabled: not in the snapshot at all
	} else {
		rt, rr, retired, err = b.merge(o, spec, svcObj, retired)
		if err != nil {
			rt = nil
			b.routeErr[key] = err.Error()
			b.log.Error("route not served", "key", key, "error", err)
		}
	}
	if rt != nil {
		switch {
		case rt.Failure != nil:
			b.routeErr[key] = rt.Failure.Reason
			b.log.Error("route answers with an error", "key", key, "status", rt.Failure.Status, "error", rt.Failure.Reason)
		case rt.Unsupported != "":
			b.routeErr[key] = unsupportedReason(rt.Unsupported)
			if rt.pluginErr != "" {
				b.routeErr[key] = rt.pluginErr
			}
			b.log.Error("route fails closed", "key", key, "error", b.routeErr[key])
		}
	}
	cr.route, cr.rr = rt, rr
	if wasServed != (rt != nil) {
		b.order = nil // membership changed; an update in place keeps its slot (cr is shared)
	}
	return retired
}

// routeDeps lists what the route's compile reads besides itself, existing or not.
func routeDeps(r *model.Route, svc *model.Service) []depKey {
	var deps []depKey
	if r.ServiceID != "" {
		deps = append(deps, depKey{model.Services, string(r.ServiceID)})
	}
	if r.PluginConfigID != "" {
		deps = append(deps, depKey{model.PluginConfigs, string(r.PluginConfigID)})
	}
	if r.UpstreamID != "" {
		deps = append(deps, depKey{model.Upstreams, string(r.UpstreamID)})
	}
	if svc != nil && svc.UpstreamID != "" {
		deps = append(deps, depKey{model.Upstreams, string(svc.UpstreamID)})
	}
	return deps
}

// merge applies APISIX's route ∪ plugin_config ∪ service rules (reference §5). An error means
// the route cannot be indexed at all; a missing reference is a Failure on a served route.
func (b *builder) merge(o *object, spec *model.Route, svcObj *object, retired []*upstream.Upstream) (*Route, router.Route, []*upstream.Upstream, error) {
	rt := &Route{
		ID:        o.id,
		Key:       o.key,
		Name:      spec.Name,
		ServiceID: string(spec.ServiceID),
		Spec:      spec,
		Timeout:   spec.Timeout,
	}
	fail := func(status int, format string, args ...any) {
		if rt.Failure == nil {
			rt.Failure = &Failure{Status: status, Reason: fmt.Sprintf(format, args...)}
		}
	}

	// APISIX merges the plugin_config first (503 when missing), then the service (404).
	var pcPlugins map[string]json.RawMessage
	var pcObj *object
	if id := string(spec.PluginConfigID); id != "" {
		if pcObj = b.ix.get(model.PluginConfigs, id); pcObj != nil {
			pcPlugins = pcObj.val.(*model.PluginSet).Plugins
		} else {
			fail(statusMissingPluginConfig, "plugin_config_id %s not found", id)
		}
	}
	var svc *model.Service
	if spec.ServiceID != "" {
		if svcObj != nil {
			svc = svcObj.val.(*model.Service)
			rt.Service = svc
		} else {
			fail(statusMissingService, "service_id %s not found", spec.ServiceID)
		}
	}
	rt.Plugins = mergePlugins(svc, pcPlugins, spec.Plugins)
	rt.Unsupported = b.unsupported(rt.Plugins)
	if rt.Unsupported == "" {
		chain, failed, err := b.routeChain(rt, o, spec, pcObj, svcObj)
		if err != nil {
			// a conf New refused fails closed like a plugin without behaviour
			rt.Unsupported = failed
			rt.pluginErr = fmt.Sprintf("plugin %s: %v: fails closed (503)", failed, err)
		}
		rt.Chain = chain
	}

	switch {
	case spec.EnableWebsocket != nil:
		rt.EnableWebsocket = *spec.EnableWebsocket
	case svc != nil && svc.EnableWebsocket != nil:
		rt.EnableWebsocket = *svc.EnableWebsocket
	}

	var err error
	rt.Upstream, retired, err = b.resolveUpstream(o, spec, svcObj, retired, fail)
	if err != nil {
		return nil, router.Route{}, retired, err
	}

	rr, err := routerRoute(rt, spec, svc)
	if err != nil {
		return nil, router.Route{}, retired, err
	}
	return rt, rr, retired, nil
}

// mergePlugins: the service's plugins are the base, the plugin_config fills in, the route's
// own win on the same name. The maps read are never modified.
func mergePlugins(svc *model.Service, pc, route map[string]json.RawMessage) map[string]json.RawMessage {
	var svcPlugins map[string]json.RawMessage
	if svc != nil {
		svcPlugins = svc.Plugins
	}
	if len(svcPlugins)+len(pc)+len(route) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(svcPlugins)+len(pc)+len(route))
	maps.Copy(out, svcPlugins)
	maps.Copy(out, pc)
	maps.Copy(out, route)
	return out
}

// resolveUpstream picks as APISIX does: merging a service into a route, the route's upstream
// or upstream_id replaces the service's (an inline route upstream clears the service's
// upstream_id), and in the access phase an upstream_id wins over an inline upstream. So: the
// route's upstream_id, its inline upstream, the service's upstream_id, the service's inline
// upstream. The route's inline compile is reused while its JSON is unchanged; named and service
// upstreams were compiled before the routes.
func (b *builder) resolveUpstream(o *object, spec *model.Route, svcObj *object, retired []*upstream.Upstream, fail func(int, string, ...any)) (*upstream.Upstream, []*upstream.Upstream, error) {
	named := func(field, id string) *upstream.Upstream {
		if cu := b.named[id]; cu != nil {
			return cu.up
		}
		if b.ix.get(model.Upstreams, id) != nil {
			fail(statusMissingUpstream, "%s %s: upstream not compiled: %s", field, id, b.upErr[b.o.Prefix+"/upstreams/"+id])
		} else {
			fail(statusMissingUpstream, "%s %s not found", field, id)
		}
		return nil
	}
	if spec.UpstreamID == "" && spec.Upstream != nil {
		u, retired, err := b.compileInline(o.key, spec.Upstream, o.inlineUp, retired)
		if err != nil && u == nil {
			return nil, retired, fmt.Errorf("upstream: %w", err)
		}
		return u, retired, nil
	}
	retired = b.dropInline(o.key, retired)
	if spec.UpstreamID != "" {
		return named("upstream_id", string(spec.UpstreamID)), retired, nil
	}
	if svcObj == nil {
		return nil, retired, nil
	}
	svc := svcObj.val.(*model.Service)
	if svc.UpstreamID != "" {
		return named("service "+svcObj.id+" upstream_id", string(svc.UpstreamID)), retired, nil
	}
	if svc.Upstream != nil {
		cu := b.inline[svcObj.key]
		if cu == nil {
			fail(statusMissingUpstream, "service %s: upstream not compiled: %s", svcObj.id, b.upErr[svcObj.key])
			return nil, retired, nil
		}
		return cu.up, retired, nil
	}
	return nil, retired, nil
}

// routerRoute normalises uri/uris, host/hosts (the service's hosts when the route has none),
// remote_addr/remote_addrs and compiles vars.
func routerRoute(rt *Route, spec *model.Route, svc *model.Service) (router.Route, error) {
	rr := router.Route{ID: rt.ID, Methods: spec.Methods, Priority: spec.Priority, Value: rt}
	switch {
	case len(spec.URIs) > 0:
		rr.URIs = spec.URIs
	case spec.URI != "":
		rr.URIs = []string{spec.URI}
	default:
		return rr, fmt.Errorf("route has no uri")
	}
	switch {
	case len(spec.Hosts) > 0:
		rr.Hosts = spec.Hosts
	case spec.Host != "":
		rr.Hosts = []string{spec.Host}
	case svc != nil && len(svc.Hosts) > 0:
		rr.Hosts = svc.Hosts
	}
	addrs := spec.RemoteAddrs
	if len(addrs) == 0 && spec.RemoteAddr != "" {
		addrs = []string{spec.RemoteAddr}
	}
	for _, a := range addrs {
		p, err := parsePrefix(a)
		if err != nil {
			return rr, fmt.Errorf("remote_addrs: %w", err)
		}
		rr.RemoteAddrs = append(rr.RemoteAddrs, p)
	}
	if len(spec.Vars) > 0 && string(spec.Vars) != "null" {
		var rule any
		if err := json.Unmarshal(spec.Vars, &rule); err != nil {
			return rr, fmt.Errorf("vars: %w", err)
		}
		e, err := expr.Compile(rule)
		if err != nil {
			return rr, fmt.Errorf("vars: %w", err)
		}
		rr.Vars = e
	}
	return rr, nil
}

// parsePrefix accepts an address or a CIDR, IPv4 or IPv6.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unsupported returns the first enabled plugin (by name) without behaviour in this build.
func (b *builder) unsupported(plugins map[string]json.RawMessage) string {
	for _, name := range slices.Sorted(maps.Keys(plugins)) {
		if b.o.Enabled(name) && !disabled(plugins[name]) && !b.o.Supported(name) {
			return name
		}
	}
	return ""
}

// disabled reports `_meta.disable: true`.
func disabled(conf json.RawMessage) bool {
	if !strings.Contains(string(conf), `"_meta"`) {
		return false
	}
	var c struct {
		Meta struct {
			Disable bool `json:"disable"`
		} `json:"_meta"`
	}
	return json.Unmarshal(conf, &c) == nil && c.Meta.Disable
}

func unsupportedReason(name string) string {
	if _, known := plugin.Lookup(name); !known {
		return fmt.Sprintf("unknown plugin %q: fails closed (503)", name)
	}
	return fmt.Sprintf("plugin %q has no behaviour in this build: fails closed (503)", name)
}
