// Package multiauth registers APISIX's multi-auth plugin: it tries several auth plugins in order
// and accepts the request when any of them authenticates it.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package multiauth

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// multi-auth has no consumer schema: consumers carry the credentials of the individual plugins.

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "multi-auth",
		Priority:       2600,
		Type:           "auth",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
