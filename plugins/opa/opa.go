// Package opa registers APISIX's opa plugin: it asks an Open Policy Agent server for a decision
// on each request (with route, service and consumer data on request).
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package opa

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "opa",
		Priority:       2001,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
