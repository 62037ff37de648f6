package snapshot

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/stream"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// streamRouteDoc is a stream_routes object as the data plane reads it.
type streamRouteDoc struct {
	Name       string                     `json:"name"`
	RemoteAddr string                     `json:"remote_addr"`
	ServerAddr string                     `json:"server_addr"`
	ServerPort int                        `json:"server_port"`
	SNI        string                     `json:"sni"`
	UpstreamID model.ID                   `json:"upstream_id"`
	ServiceID  model.ID                   `json:"service_id"`
	Plugins    map[string]json.RawMessage `json:"plugins"`
	Upstream   json.RawMessage            `json:"upstream"`
	up         *model.Upstream
}

func decodeStreamRoute(v []byte) (any, json.RawMessage, error) {
	var d streamRouteDoc
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, nil, err
	}
	up, inline, err := decodeInline(d.Upstream)
	d.up = up
	return &d, inline, err
}

// streamDirty reports whether the stream table must be rebuilt: a stream route changed, or an
// upstream, service or plugin_metadata they may read.
func (b *builder) streamDirty() bool {
	for _, k := range []model.Kind{model.StreamRoutes, model.Upstreams, model.Services, model.PluginMetadata} {
		if len(b.dirty[k]) > 0 {
			return true
		}
	}
	return false
}

// buildStream compiles every stream route, in configuration order, into the stream table.
// Stream routes are few: they are all recompiled when any of their inputs changed, reusing
// their inline upstreams and plugin instances while those are unchanged.
func (b *builder) buildStream(next *Snapshot, retired []*upstream.Upstream) (*stream.Table, []*upstream.Upstream) {
	objs := slices.SortedFunc(maps.Values(b.ix.objs[model.StreamRoutes]), func(x, y *object) int { return cmp.Compare(x.seq, y.seq) })
	live := map[string]bool{}
	clear(b.streamErr)
	var routes []*stream.Route
	for _, o := range objs {
		live[o.key] = true
		d := o.val.(*streamRouteDoc)
		rt, err := stream.NewRoute(o.id, o.key, d.Name, stream.RouteSpec{RemoteAddr: d.RemoteAddr, ServerAddr: d.ServerAddr, ServerPort: d.ServerPort, SNI: d.SNI})
		if err != nil {
			b.streamErr[o.key] = "stream route not served: " + err.Error()
			continue
		}
		var upErr error
		rt.Upstream, retired, upErr = b.streamUpstream(o, d, retired)
		if upErr != nil {
			// served without an upstream: its connections are closed, as APISIX does
			b.streamErr[o.key] = upErr.Error()
		}
		if rt.Plugins, err = b.streamPlugins(o, d); err != nil {
			b.streamErr[o.key] = "stream route not served: " + err.Error()
			continue
		}
		routes = append(routes, rt)
	}
	for owner := range b.streamInline {
		if !live[owner] {
			retired = b.dropInline(owner, retired)
			delete(b.streamInline, owner)
		}
	}
	for key, reason := range b.streamErr {
		b.log.Error("stream route", "key", key, "error", reason)
	}
	return stream.NewTable(routes, next.Upstreams), retired
}

// streamUpstream resolves a stream route's upstream: its own, its upstream_id, or its
// service's (APISIX 3.13+).
func (b *builder) streamUpstream(o *object, d *streamRouteDoc, retired []*upstream.Upstream) (*upstream.Upstream, []*upstream.Upstream, error) {
	if d.up != nil {
		b.streamInline[o.key] = true
		u, retired, err := b.compileInline(o.key, d.up, o.inlineUp, retired)
		if err != nil {
			return u, retired, fmt.Errorf("invalid upstream: %w", err)
		}
		return u, retired, nil
	}
	retired = b.dropInline(o.key, retired)
	id := string(d.UpstreamID)
	if id == "" && d.ServiceID != "" {
		svc := b.ix.get(model.Services, string(d.ServiceID))
		if svc == nil {
			return nil, retired, fmt.Errorf("service_id %s not found", d.ServiceID)
		}
		s := svc.val.(*model.Service)
		if s.Upstream != nil {
			if cu := b.inline[svc.key]; cu != nil {
				return cu.up, retired, nil
			}
			return nil, retired, fmt.Errorf("service %s: its upstream is not compiled", d.ServiceID)
		}
		id = string(s.UpstreamID)
	}
	if id == "" {
		return nil, retired, fmt.Errorf("no upstream")
	}
	if cu := b.named[id]; cu != nil {
		return cu.up, retired, nil
	}
	return nil, retired, fmt.Errorf("failed to fetch upstream info by upstream id [%s]", id)
}

// streamPlugins compiles the route's stream plugins (the service's merged under the route's),
// in stream priority order.
func (b *builder) streamPlugins(o *object, d *streamRouteDoc) ([]stream.Plugin, error) {
	confs := map[string]json.RawMessage{}
	if d.ServiceID != "" {
		if svc := b.ix.get(model.Services, string(d.ServiceID)); svc != nil {
			maps.Copy(confs, svc.val.(*model.Service).Plugins)
		}
	}
	maps.Copy(confs, d.Plugins)
	owner := b.syncOwner(model.StreamRoutes, o.id, o.key, pluginrt.FromRoute, confs)
	type ranked struct {
		prio int
		p    stream.Plugin
	}
	var list []ranked
	for _, name := range slices.Sorted(maps.Keys(confs)) {
		def, ok := plugin.Lookup(name)
		if !ok || !def.Stream || !b.o.StreamEnabled(name) {
			continue // not a stream plugin here: APISIX's stream plugin filter skips it
		}
		cp := owner.insts[name]
		switch {
		case cp == nil:
			continue // disabled by _meta, or no behaviour
		case cp.err != nil:
			return nil, fmt.Errorf("plugin %s: %w", name, cp.err)
		case cp.in == nil:
			continue
		}
		sp := stream.Plugin{Name: name, Hold: cp.in.Hold}
		sp.Preread, _ = cp.in.Impl.(plugin.StreamPrereader)
		sp.Log, _ = cp.in.Impl.(plugin.StreamLogger)
		if sp.Preread == nil && sp.Log == nil {
			b.log.Warn("stream plugin has no stream phase in this build: ignored", "key", o.key, "plugin", name)
			continue
		}
		list = append(list, ranked{def.StreamPriority, sp})
	}
	slices.SortStableFunc(list, func(x, y ranked) int { return cmp.Compare(y.prio, x.prio) })
	out := make([]stream.Plugin, len(list))
	for i, r := range list {
		out[i] = r.p
	}
	return out, nil
}
