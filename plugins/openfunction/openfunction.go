// Package openfunction registers APISIX's openfunction plugin, which invokes an OpenFunction
// function as the upstream. Only the registration is here (name, priority, the config schema, read
// from apisix/plugins/openfunction.lua and serverless/generic-upstream.lua); the plugin's behaviour
// is not implemented yet.
package openfunction

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
		Name:           "openfunction",
		Priority:       -1902,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
