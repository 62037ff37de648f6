// Package openwhisk registers APISIX's openwhisk plugin, which invokes an Apache OpenWhisk action
// as the upstream. Only the registration is here (name, priority, the config schema, read from
// apisix/plugins/openwhisk.lua); the plugin's behaviour is not implemented yet.
package openwhisk

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
		Name:           "openwhisk",
		Priority:       -1901,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
