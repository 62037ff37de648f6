// Package lago registers APISIX's lago plugin, which reports per-request usage events to Lago for
// metering and billing. Only the registration is here (name, priority, the config schema, read from
// apisix/plugins/lago.lua); the plugin's behaviour is not implemented yet.
package lago

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
		Name:           "lago",
		Priority:       415,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
