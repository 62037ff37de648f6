// Package lokilogger registers APISIX's loki-logger plugin, which batches access-log entries and
// pushes them to Grafana Loki. Only the registration is here (name, priority, the config schema and
// the plugin_metadata schema, read from apisix/plugins/loki-logger.lua and reference/plugins.md);
// the plugin's phases are not implemented yet.
package lokilogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/loki-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "loki-logger",
		Priority:       414,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"headers"},
		DefaultEnabled: true,
	})
}
