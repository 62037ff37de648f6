// Package apibreaker registers APISIX's api-breaker plugin, which opens a circuit (answers
// break_response_code) after repeated unhealthy upstream statuses. Only the registration is here
// (name, priority, the config schema, read from apisix/plugins/api-breaker.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package apibreaker

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
		Name:           "api-breaker",
		Priority:       1005,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
