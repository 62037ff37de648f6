// Package extpluginpostreq registers APISIX's ext-plugin-post-req plugin, which runs external
// plugin-runner plugins in the access phase, after the built-in plugins. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/ext-plugin-post-req.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package extpluginpostreq

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
		Name:           "ext-plugin-post-req",
		Priority:       -3000,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
