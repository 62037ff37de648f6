// Package ldapauth registers APISIX's ldap-auth plugin: HTTP Basic credentials are checked by a
// bind against an LDAP server, and the bound DN selects the consumer.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package ldapauth

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

//go:embed consumer_schema.json
var consumerSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "ldap-auth",
		Priority:       2540,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		DefaultEnabled: true,
	})
}
