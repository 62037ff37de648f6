// Package casauth registers APISIX's cas-auth plugin: single sign-on through a CAS identity
// provider, with the session kept in a signed cookie.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package casauth

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "cas-auth",
		Priority:       2597,
		Schema:         schema,
		EncryptFields:  []string{"cookie.secret"},
		DefaultEnabled: true,
	})
}
