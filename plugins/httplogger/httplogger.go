// Package httplogger registers APISIX's http-logger plugin, which batches access-log entries and
// POSTs them as JSON to an HTTP(S) collector. Only the registration is here (name, priority, the
// config schema and the plugin_metadata schema, read from apisix/plugins/http-logger.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package httplogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/http-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "http-logger",
		Priority:       410,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"auth_header"},
		DefaultEnabled: true,
	})
}
