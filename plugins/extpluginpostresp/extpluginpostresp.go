// Package extpluginpostresp registers APISIX's ext-plugin-post-resp plugin, which requests the
// upstream itself and lets external plugin-runner plugins rewrite its response. Only the
// registration is here (name, priority, the config schema, read from apisix/plugins/ext-plugin-
// post-resp.lua and reference/plugins.md); the plugin's phases are not implemented yet.
package extpluginpostresp

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
		Name:           "ext-plugin-post-resp",
		Priority:       -4000,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
