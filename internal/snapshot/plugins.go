package snapshot

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/plugin"
)

// Plugin compilation. Every object that carries plugins (route, service, plugin_config,
// consumer, consumer_group, global_rule) is an owner: its confs are compiled with
// Definition.New once, and an instance carries over by pointer to the next snapshot while
// its conf bytes, its owner and its plugin_metadata are unchanged. An instance replaced or
// dropped is retired and Closed after the snapshot without it is published.

// pluginOwner is the compiled plugins of one object.
type pluginOwner struct {
	kind  model.Kind
	id    string
	insts map[string]*compiledPlugin // by plugin name
	built int64                      // build number of the last sync
}

type compiledPlugin struct {
	conf string // the conf bytes compiled
	meta string // the plugin_metadata bytes compiled with
	// shared is the plugin's Env.Shared it was compiled with: a plugins reload that
	// restarts the plugin recompiles its instances
	shared any
	in     *pluginrt.Instance
	err    error // New failed: the owner fails closed
}

// syncOwner compiles owner key's plugins as they are now (once per build), reusing the
// instances whose conf and metadata did not change and retiring the others. Plugins without
// behaviour are left to Route.Unsupported; auth plugins on consumers are credentials, not
// instances.
func (b *builder) syncOwner(kind model.Kind, id, key string, src pluginrt.Source, plugins map[string]json.RawMessage) *pluginOwner {
	o := b.owners[key]
	if o == nil {
		o = &pluginOwner{kind: kind, id: id, insts: map[string]*compiledPlugin{}}
		b.owners[key] = o
	}
	if o.built == b.buildNo {
		return o
	}
	o.built = b.buildNo
	consumerSide := src == pluginrt.FromConsumer || src == pluginrt.FromConsumerGroup
	enabled := b.o.Enabled
	if kind == model.StreamRoutes {
		enabled = b.o.StreamEnabled // stream_plugins
	}
	for name, conf := range plugins {
		def, ok := plugin.Lookup(name)
		if !ok || def.New == nil || !enabled(name) || !b.o.Supported(name) || consumerSide && def.Type == "auth" {
			b.retirePlugin(o, name)
			continue
		}
		meta := string(b.pluginMetadata(name))
		var shared any
		if b.o.Shared != nil {
			shared = b.o.Shared(name)
		}
		if cp := o.insts[name]; cp != nil && cp.conf == string(conf) && cp.meta == meta && sameShared(cp.shared, shared) {
			continue
		}
		b.retirePlugin(o, name)
		env := plugin.Env{Parent: key, Logger: b.log.With("plugin", name, "parent", key),
			Shared: shared, Node: b.o.Node, NewUpstream: b.pluginUpstreams(key, name)}
		if meta != "" {
			env.Metadata = json.RawMessage(meta)
		}
		in, err := pluginrt.Compile(def, conf, src, env)
		if err != nil {
			b.log.Error("plugin not compiled", "key", key, "plugin", name, "error", err)
		}
		o.insts[name] = &compiledPlugin{conf: string(conf), meta: meta, shared: shared, in: in, err: err}
	}
	for name := range o.insts {
		if _, ok := plugins[name]; !ok {
			b.retirePlugin(o, name)
		}
	}
	return o
}

func (b *builder) retirePlugin(o *pluginOwner, name string) {
	if cp := o.insts[name]; cp != nil {
		if cp.in != nil {
			b.retiredPlugins = append(b.retiredPlugins, cp.in)
		}
		delete(o.insts, name)
	}
}

// sweepOwners retires the plugins of objects that left the index.
func (b *builder) sweepOwners() {
	for key, o := range b.owners {
		if b.ix.get(o.kind, o.id) != nil {
			continue
		}
		for name := range o.insts {
			b.retirePlugin(o, name)
		}
		delete(b.owners, key)
	}
}

func (b *builder) pluginMetadata(name string) json.RawMessage {
	if o := b.ix.get(model.PluginMetadata, name); o != nil {
		return o.val.(json.RawMessage)
	}
	return nil
}

// routeChain compiles the route's merged plugin set: each name from the object it came from
// (route over plugin_config over service). It returns the plugin whose New failed, if any.
func (b *builder) routeChain(rt *Route, o *object, spec *model.Route, pcObj, svcObj *object) (*pluginrt.Chain, string, error) {
	if len(rt.Plugins) == 0 {
		return nil, "", nil
	}
	own := b.syncOwner(model.Routes, o.id, o.key, pluginrt.FromRoute, spec.Plugins)
	var pc, svc *pluginOwner
	if pcObj != nil {
		pc = b.syncOwner(model.PluginConfigs, pcObj.id, pcObj.key, pluginrt.FromPluginConfig, pcObj.val.(*model.PluginSet).Plugins)
	}
	if svcObj != nil {
		svc = b.syncOwner(model.Services, svcObj.id, svcObj.key, pluginrt.FromService, svcObj.val.(*model.Service).Plugins)
	}
	list := make([]*pluginrt.Instance, 0, len(rt.Plugins))
	for _, name := range slices.Sorted(maps.Keys(rt.Plugins)) {
		from := own
		switch {
		case spec.Plugins[name] != nil:
		case pc != nil && pcObj.val.(*model.PluginSet).Plugins[name] != nil:
			from = pc
		default:
			from = svc
		}
		if from == nil {
			continue
		}
		cp := from.insts[name]
		if cp == nil {
			continue // no behaviour: Unsupported says so
		}
		if cp.err != nil {
			return nil, name, cp.err
		}
		list = append(list, cp.in)
	}
	return pluginrt.NewChain(list), "", nil
}

// ownerChain compiles a consumer's, group's or global rule's plugins into a chain; broken
// names a plugin that cannot run there (no behaviour, or New failed) with why.
func (b *builder) ownerChain(kind model.Kind, id, key string, src pluginrt.Source, plugins map[string]json.RawMessage) (ch *pluginrt.Chain, list []*pluginrt.Instance, broken string) {
	o := b.syncOwner(kind, id, key, src, plugins)
	consumerSide := src == pluginrt.FromConsumer || src == pluginrt.FromConsumerGroup
	for _, name := range slices.Sorted(maps.Keys(plugins)) {
		if def, ok := plugin.Lookup(name); ok && consumerSide && def.Type == "auth" {
			continue
		}
		cp := o.insts[name]
		switch {
		case cp == nil:
			if b.o.Enabled(name) && !disabled(plugins[name]) && broken == "" {
				broken = unsupportedReason(name)
			}
		case cp.err != nil:
			if broken == "" {
				broken = fmt.Sprintf("plugin %s: %v: fails closed (503)", name, cp.err)
			}
		default:
			list = append(list, cp.in)
		}
	}
	return pluginrt.NewChain(list), list, broken
}

// buildPluginSet makes the snapshot's plugin Set: the merged global chain, each consumer's
// (and its group's) plugins, and each auth plugin's credential index. What did not change
// is taken from the previous Set; the merge memo always starts empty.
func (b *builder) buildPluginSet(next *Snapshot, errs map[string]string) *pluginrt.Set {
	prev := b.prev.Plugins
	set := &pluginrt.Set{}
	if prev != nil {
		set.Global, set.GlobalBroken, set.Consumers, set.Indexes = prev.Global, prev.GlobalBroken, prev.Consumers, prev.Indexes
	}
	metaDirty := len(b.dirty[model.PluginMetadata]) > 0
	if b.full || metaDirty || len(b.dirty[model.GlobalRules]) > 0 || prev == nil {
		var rules [][]*pluginrt.Instance
		set.GlobalBroken = ""
		b.globalErrs = map[string]string{}
		for _, id := range slices.Sorted(maps.Keys(next.GlobalRules)) {
			g := next.GlobalRules[id]
			_, list, broken := b.ownerChain(model.GlobalRules, g.ID, g.Key, pluginrt.FromGlobalRule, g.Plugins)
			if broken != "" {
				b.globalErrs[g.Key] = broken
				if set.GlobalBroken == "" {
					set.GlobalBroken = g.Key + ": " + broken
				}
			}
			rules = append(rules, list)
		}
		set.Global = pluginrt.GlobalChain(rules, b.log)
	}
	consumersDirty := b.full || metaDirty || prev == nil || len(b.dirty[model.Consumers]) > 0 ||
		len(b.dirty[model.Credentials]) > 0 || len(b.dirty[model.ConsumerGroups]) > 0
	if consumersDirty {
		b.consumerErrs = map[string]string{}
		set.Consumers = b.consumerPlugins(next, b.consumerErrs)
		set.Indexes = b.authIndexes(next, b.consumerErrs)
	}
	maps.Copy(errs, b.globalErrs)
	maps.Copy(errs, b.consumerErrs)
	return set
}

const consumerErrPrefix = "consumer plugins: "

func (b *builder) consumerPlugins(next *Snapshot, errs map[string]string) map[string]*pluginrt.ConsumerPlugins {
	groups := map[string]*pluginrt.ConsumerPlugins{}
	for id, g := range next.ConsumerGroups {
		key := b.o.Prefix + "/consumer_groups/" + id
		ch, _, broken := b.ownerChain(model.ConsumerGroups, id, key, pluginrt.FromConsumerGroup, g.Plugins)
		groups[id] = &pluginrt.ConsumerPlugins{Group: ch, Broken: broken}
		if broken != "" {
			errs[key] = consumerErrPrefix + broken
		}
	}
	out := make(map[string]*pluginrt.ConsumerPlugins, len(next.Consumers))
	for name, c := range next.Consumers {
		ch, _, broken := b.ownerChain(model.Consumers, name, c.Key, pluginrt.FromConsumer, c.Spec.Plugins)
		cp := &pluginrt.ConsumerPlugins{Consumer: ch, Broken: broken}
		if broken != "" {
			errs[c.Key] = consumerErrPrefix + broken
		}
		if gid := string(c.Spec.GroupID); gid != "" {
			if g := groups[gid]; g != nil {
				cp.Group = g.Group
				if cp.Broken == "" && g.Broken != "" {
					cp.Broken = "group " + gid + ": " + g.Broken
				}
			}
		}
		if cp.Group != nil || cp.Consumer != nil || cp.Broken != "" {
			out[name] = cp
		}
	}
	return out
}

// authIndexes builds Definition.Index of every auth plugin from every consumer's and
// credential's conf of it. A consumer without a conf of the plugin is handed in with an empty
// Conf: it holds no credential but is found by name as an anonymous_consumer (APISIX looks that
// one up among all consumers, e.g. one carrying only limit-count).
func (b *builder) authIndexes(next *Snapshot, errs map[string]string) map[string]any {
	creds := map[string][]plugin.Credential{}
	var indexed []string // auth plugins with an Index
	for _, def := range plugin.All() {
		if def.Type == "auth" && def.Index != nil {
			indexed = append(indexed, def.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(next.Consumers)) {
		c := next.Consumers[name]
		consumer := func(credID string) *plugin.Consumer {
			return &plugin.Consumer{Username: c.Username, GroupID: string(c.Spec.GroupID), Labels: c.Spec.Labels, CredentialID: credID}
		}
		for pname, conf := range c.Spec.Plugins {
			creds[pname] = append(creds[pname], plugin.Credential{Consumer: consumer(""), Conf: conf, Plugin: pname})
		}
		for _, pname := range indexed {
			if _, ok := c.Spec.Plugins[pname]; !ok {
				creds[pname] = append(creds[pname], plugin.Credential{Consumer: consumer(""), Plugin: pname})
			}
		}
		for _, cid := range slices.Sorted(maps.Keys(c.Credentials)) {
			for pname, conf := range c.Credentials[cid].Plugins {
				creds[pname] = append(creds[pname], plugin.Credential{Consumer: consumer(cid), Conf: conf, Plugin: pname})
			}
		}
	}
	if _, ok := creds["multi-auth"]; ok { // multi-auth indexes its sub-plugins from all of them
		var all []plugin.Credential
		for _, pname := range slices.Sorted(maps.Keys(creds)) {
			all = append(all, creds[pname]...)
		}
		creds["multi-auth"] = all
	}
	out := map[string]any{}
	for pname, list := range creds {
		def, ok := plugin.Lookup(pname)
		if !ok || def.Type != "auth" || def.Index == nil {
			continue
		}
		idx, err := def.Index(list)
		if err != nil {
			key := b.o.Prefix + "/consumers"
			errs[key] = consumerErrPrefix + fmt.Sprintf("%s credential index: %v", pname, err)
			b.log.Error("credential index not built", "plugin", pname, "error", err)
			continue
		}
		out[pname] = idx
	}
	return out
}

// takeRetiredPlugins returns the instances that left with the last build, to Close after
// the snapshot is published.
func (b *builder) takeRetiredPlugins() []*pluginrt.Instance {
	out := b.retiredPlugins
	b.retiredPlugins = nil
	return out
}

func (r *Route) pluginsOrNil() map[string]json.RawMessage {
	if r == nil {
		return nil
	}
	return r.Plugins
}

// pluginUpstreams is Env.NewUpstream for a plugin of owner key: inline upstreams in a
// plugin's conf (traffic-split) compile like a route's; the instance owns and closes them.
func (b *builder) pluginUpstreams(key, name string) func(json.RawMessage) (plugin.Upstream, error) {
	n := 0
	return func(raw json.RawMessage) (plugin.Upstream, error) {
		spec, _, err := decodeInline(raw)
		if err != nil {
			return nil, err
		}
		if spec == nil {
			return nil, fmt.Errorf("plugin %s: empty upstream", name)
		}
		n++
		u, err := b.newUpstream(fmt.Sprintf("%s#%s#upstream%d", key, name, n), spec)
		if err != nil {
			return nil, err
		}
		return u, nil
	}
}

// sameShared reports whether two Env.Shared values are the same state. A Shared is normally
// a pointer; one of a type == cannot compare counts as changed rather than panicking.
func sameShared(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) || !ta.Comparable() {
		return false
	}
	return a == b
}
