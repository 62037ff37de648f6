// Package filelogger registers APISIX's file-logger plugin, which appends access-log entries as
// JSON lines to a local file. Only the registration is here (name, priority, the config schema and
// the plugin_metadata schema, read from apisix/plugins/file-logger.lua and reference/plugins.md);
// the plugin's phases are not implemented yet.
package filelogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/file-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "file-logger",
		Priority:       399,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
