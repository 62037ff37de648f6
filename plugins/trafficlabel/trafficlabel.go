// Package trafficlabel registers APISIX's traffic-label plugin, which picks one of a rule's
// weighted actions for matching requests and sets request headers from it. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/traffic-label.lua); the
// plugin's behaviour is not implemented yet.
package trafficlabel

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
		Name:           "traffic-label",
		Priority:       967,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
