// Package serverlessprefunction registers APISIX's serverless-pre-function plugin, which runs user
// Lua functions in a chosen phase, early. Only the registration is here (name, priority, the config
// schema, read from apisix/plugins/serverless-pre-function.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package serverlessprefunction

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
		Name:           "serverless-pre-function",
		Priority:       10000,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
