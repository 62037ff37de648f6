// Package mcpbridge registers APISIX's mcp-bridge plugin, which spawns a stdio MCP server and
// exposes it over SSE. Only the registration is here (name, priority, the config schema, read from
// apisix/plugins/mcp-bridge.lua); the plugin's behaviour is not implemented yet.
package mcpbridge

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
		Name:           "mcp-bridge",
		Priority:       510,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
