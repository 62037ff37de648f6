// Package zipkin registers APISIX's zipkin plugin, which traces requests with Zipkin B3 propagation
// and reports spans to a Zipkin collector. Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/zipkin.lua and reference/plugins.md); the plugin's phases
// are not implemented yet.
package zipkin

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
		Name:           "zipkin",
		Priority:       12011,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
