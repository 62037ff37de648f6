// Package openidconnect registers APISIX's openid-connect plugin, which acts as an OpenID Connect
// relying party (authorization code flow, bearer token verification or token introspection). Only
// the registration is here (name, priority, the config schema, read from
// apisix/plugins/openid-connect.lua); the plugin's behaviour is not implemented yet. The session
// and dpop if-clauses also require the field they test, since APISIX injects its default (storage
// cookie, enabled false) before evaluating them; the key and endpoint cross-checks of its
// check_schema are not expressible here.
package openidconnect

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
		Name:     "openid-connect",
		Priority: 2599,
		Version:  "0.2",
		Schema:   schema,
		EncryptFields: []string{
			"client_secret",
			"client_rsa_private_key",
			"dpop.private_key",
			"session.secret",
			"session.redis.password",
			"backchannel_logout.redis.password",
		},
		DefaultEnabled: true,
	})
}
