// Package proxycache registers APISIX's proxy-cache plugin, which caches upstream responses on disk
// (nginx proxy_cache) or in a shared memory zone. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/proxy-cache.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package proxycache

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
		Name:           "proxy-cache",
		Priority:       1085,
		Version:        "0.2",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
