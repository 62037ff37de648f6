// Package authzcasdoor registers APISIX's authz-casdoor plugin: it logs users in through a
// Casdoor server (OAuth authorization code flow) and keeps the token in a session.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package authzcasdoor

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "authz-casdoor",
		Priority:       2559,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
