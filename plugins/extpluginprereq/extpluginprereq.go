// Package extpluginprereq registers APISIX's ext-plugin-pre-req plugin, which runs external plugin-
// runner plugins in the rewrite phase, before the built-in plugins. Only the registration is here
// (name, priority, the config schema, read from apisix/plugins/ext-plugin-pre-req.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package extpluginprereq

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
		Name:           "ext-plugin-pre-req",
		Priority:       12000,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
