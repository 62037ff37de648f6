package admin

import "github.com/sluicegw/sluice/internal/model"

// resource describes one Admin API collection the way APISIX's apisix/admin/<name>.lua modules
// do: the path segment, the singular "kind" used in error texts, and the methods it refuses.
type resource struct {
	name model.Kind // path segment and etcd directory ("routes", "consumer_groups" ...)
	kind string     // APISIX's kind in messages: "missing route id", "not supported `POST` method for consumer"
	// unsupported lists methods answered with 405 (APISIX's unsupported_methods).
	unsupported []string
	// noID: the id is not a generated/explicit `id` field (consumers use username, plugin_metadata
	// the plugin name), so APISIX's id rules and `id` injection do not apply.
	noID bool
}

// resources is APISIX's resource table (apisix/admin/init.lua), keyed by path segment.
var resources = map[string]*resource{
	"routes":          {name: model.Routes, kind: "route"},
	"services":        {name: model.Services, kind: "service"},
	"upstreams":       {name: model.Upstreams, kind: "upstream"},
	"consumers":       {name: model.Consumers, kind: "consumer", unsupported: []string{"POST", "PATCH"}, noID: true},
	"credentials":     {name: model.Credentials, kind: "credential", unsupported: []string{"POST", "PATCH"}},
	"consumer_groups": {name: model.ConsumerGroups, kind: "consumer group", unsupported: []string{"POST"}},
	"ssls":            {name: model.SSLs, kind: "ssl"},
	"global_rules":    {name: model.GlobalRules, kind: "global rule", unsupported: []string{"POST"}},
	"plugin_configs":  {name: model.PluginConfigs, kind: "plugin config", unsupported: []string{"POST"}},
	"plugin_metadata": {name: model.PluginMetadata, kind: "plugin_metadata", unsupported: []string{"POST", "PATCH"}, noID: true},
	"stream_routes":   {name: model.StreamRoutes, kind: "stream route", unsupported: []string{"PATCH"}},
	"protos":          {name: model.Protos, kind: "proto", unsupported: []string{"PATCH"}},
	"secrets":         {name: model.Secrets, kind: "secret", unsupported: []string{"POST"}},
}

func (r *resource) supports(method string) bool {
	for _, m := range r.unsupported {
		if m == method {
			return false
		}
	}
	return true
}

// schemaNames maps GET /apisix/admin/schema/<name> (APISIX's core.schema table keys) to kinds.
var schemaNames = map[string]model.Kind{
	"route":          model.Routes,
	"service":        model.Services,
	"upstream":       model.Upstreams,
	"consumer":       model.Consumers,
	"credential":     model.Credentials,
	"consumer_group": model.ConsumerGroups,
	"ssl":            model.SSLs,
	"global_rule":    model.GlobalRules,
	"plugin_config":  model.PluginConfigs,
	"stream_route":   model.StreamRoutes,
	"proto":          model.Protos,
}

// secretManagers are the secret backends APISIX ships (apisix/secret/<name>.lua).
var secretManagers = map[string]bool{"vault": true, "aws": true, "gcp": true}
