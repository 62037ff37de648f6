// Package inspect registers APISIX's inspect plugin, which sets dynamic Lua breakpoints from a
// hooks file for debugging. Only the registration is here (name, priority, the config schema, read
// from apisix/plugins/inspect.lua); the plugin's behaviour is not implemented yet.
package inspect

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
		Name:           "inspect",
		Priority:       200,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
