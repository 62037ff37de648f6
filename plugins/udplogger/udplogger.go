// Package udplogger registers APISIX's udp-logger plugin, which batches access-log entries and
// sends each batch as one JSON UDP datagram. Only the registration is here (name, priority, the
// config schema and the plugin_metadata schema, read from apisix/plugins/udp-logger.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package udplogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/udp-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "udp-logger",
		Priority:       400,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
