// Package samlauth registers APISIX's saml-auth plugin, which acts as a SAML 2.0 service provider
// and logs the user in at an identity provider. Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/saml-auth.lua); the plugin's behaviour is not implemented
// yet.
package samlauth

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
		Name:           "saml-auth",
		Priority:       2598,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
