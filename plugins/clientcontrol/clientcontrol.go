// Package clientcontrol registers APISIX's client-control plugin: it sets the maximum request
// body size per route.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package clientcontrol

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "client-control",
		Priority:       22000,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
