// Package trafficsplit registers APISIX's traffic-split plugin, which splits traffic between
// upstreams by match rules and weights (canary, blue-green). Only the registration is here (name,
// priority, the config schema, read from apisix/plugins/traffic-split.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package trafficsplit

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
		Name:           "traffic-split",
		Priority:       966,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 966,
	})
}
