// Package nodestatus registers APISIX's node-status plugin, which exposes the node's connection
// statistics at /apisix/status through public-api. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/node-status.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package nodestatus

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
		Name:     "node-status",
		Priority: 1000,
		Version:  "0.1",
		Schema:   schema,
		Scope:    "global",
	})
}
