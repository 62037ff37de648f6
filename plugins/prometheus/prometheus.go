// Package prometheus registers APISIX's prometheus plugin, which counts requests, latencies and
// bandwidth per route/service/consumer and exports them for Prometheus. Only the registration is
// here (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/prometheus.lua and reference/plugins.md); the plugin's phases are not implemented
// yet.
package prometheus

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/prometheus.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// run_policy prefer_route (a route's own copy wins over a global rule's) is behaviour, not
// registration.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "prometheus",
		Priority:       500,
		Version:        "0.2",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 500,
	})
}
