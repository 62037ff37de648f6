// Package tcplogger registers APISIX's tcp-logger plugin, which batches access-log entries and
// writes them as JSON over a TCP (optionally TLS) connection. Only the registration is here (name,
// priority, the config schema and the plugin_metadata schema, read from apisix/plugins/tcp-
// logger.lua and reference/plugins.md); the plugin's phases are not implemented yet.
package tcplogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/tcp-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "tcp-logger",
		Priority:       405,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
