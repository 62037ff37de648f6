// Package authzkeycloak registers APISIX's authz-keycloak plugin: it authorizes requests against
// Keycloak's UMA authorization services.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package authzkeycloak

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "authz-keycloak",
		Priority:       2000,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
