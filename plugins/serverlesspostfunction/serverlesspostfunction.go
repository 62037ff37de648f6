// Package serverlesspostfunction registers APISIX's serverless-post-function plugin, which runs
// user Lua functions in a chosen phase, late. Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/serverless-post-function.lua and reference/plugins.md);
// the plugin's phases are not implemented yet.
package serverlesspostfunction

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
		Name:           "serverless-post-function",
		Priority:       -2000,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
