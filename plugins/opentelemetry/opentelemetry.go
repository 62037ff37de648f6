// Package opentelemetry registers APISIX's opentelemetry plugin, which traces requests with
// OpenTelemetry and exports spans over OTLP/HTTP. Only the registration is here (name, priority,
// the config schema and the plugin_metadata schema, read from apisix/plugins/opentelemetry.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package opentelemetry

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/opentelemetry.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// APISIX writes resource's and request_headers' value alternatives as a Lua list (and once as
// `one_of`), which its validator ignores; they are spelled here as the anyOf they mean.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "opentelemetry",
		Priority:       12009,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
	})
}
