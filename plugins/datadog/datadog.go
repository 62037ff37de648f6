// Package datadog registers APISIX's datadog plugin, which sends request counters and latencies to
// a DogStatsD agent. Only the registration is here (name, priority, the config schema and the
// plugin_metadata schema, read from apisix/plugins/datadog.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package datadog

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/datadog.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "datadog",
		Priority:       495,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
