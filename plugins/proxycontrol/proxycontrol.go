// Package proxycontrol registers APISIX's proxy-control plugin: it turns request body buffering
// before proxying on or off per route.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package proxycontrol

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "proxy-control",
		Priority:       21990,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
