// Package httpdubbo registers APISIX's http-dubbo plugin, which transcodes HTTP requests to Dubbo2
// calls over TCP. Only the registration is here (name, priority, the config schema, read from
// apisix/plugins/http-dubbo.lua); the plugin's behaviour is not implemented yet.
package httpdubbo

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
		Name:           "http-dubbo",
		Priority:       504,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
