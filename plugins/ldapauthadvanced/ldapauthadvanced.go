// Package ldapauthadvanced registers APISIX's ldap-auth-advanced plugin, which binds to LDAP with
// the request's Basic credentials, then attaches the consumer whose user_dn or group_dn matches.
// Only the registration is here (name, priority, the config schema and the consumer schema, read
// from apisix/plugins/ldap-auth-advanced.lua); the plugin's behaviour is not implemented yet. Its
// priority is apisix.md's 2541 (one above ldap-auth); check_schema's test for exactly one %s in
// user_dn_template and for use_starttls with use_ldaps is not expressible in the schema.
package ldapauthadvanced

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// consumerSchema validates the plugin's credential on a consumer.
//
//go:embed consumer_schema.json
var consumerSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "ldap-auth-advanced",
		Priority:       2541,
		Version:        "0.1",
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		DefaultEnabled: true,
	})
}
