// Package proxybuffering registers APISIX's proxy-buffering plugin, which turns proxy response
// buffering off per route, e.g. for server-sent events. Only the registration is here (name,
// priority, the config schema, read from apisix/plugins/proxy-buffering.lua); the plugin's
// behaviour is not implemented yet.
package proxybuffering

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
		Name:           "proxy-buffering",
		Priority:       21991,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
