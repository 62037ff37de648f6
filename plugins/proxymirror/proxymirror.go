// Package proxymirror registers APISIX's proxy-mirror plugin, which mirrors a sample of requests to
// another host and discards the mirror's response. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/proxy-mirror.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package proxymirror

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
		Name:           "proxy-mirror",
		Priority:       1010,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
