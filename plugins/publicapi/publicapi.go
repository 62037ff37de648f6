// Package publicapi registers APISIX's public-api plugin, which exposes the plugins' own APIs
// (prometheus metrics, batch-requests, ...) on a route. Only the registration is here (name,
// priority, the config schema, read from apisix/plugins/public-api.lua and reference/plugins.md);
// the plugin's phases are not implemented yet.
package publicapi

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
		Name:           "public-api",
		Priority:       501,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
