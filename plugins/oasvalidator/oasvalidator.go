// Package oasvalidator registers APISIX's oas-validator plugin, which validates requests against an
// OpenAPI 3 specification given inline or fetched from a URL. Only the registration is here (name,
// priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/oas-validator.lua); the plugin's behaviour is not implemented yet.
package oasvalidator

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/oas-validator.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "oas-validator",
		Priority:       512,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
