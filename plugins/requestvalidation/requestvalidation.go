// Package requestvalidation registers APISIX's request-validation plugin, which validates request
// headers and body against JSON Schemas before proxying. Only the registration is here (name,
// priority, the config schema, read from apisix/plugins/request-validation.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package requestvalidation

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "request-validation",
		Priority:       2800,
		Version:        "0.1",
		Type:           "validation",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
