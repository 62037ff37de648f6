// Package limitreq registers APISIX's limit-req plugin, which limits the request rate per key with
// a leaky bucket, delaying bursts. Only the registration is here (name, priority, the config
// schema, read from apisix/plugins/limit-req.lua and reference/plugins.md); the plugin's phases are
// not implemented yet.
package limitreq

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// APISIX's if/then/else on policy relies on its validator injecting the `local` default first; the
// `if` here also requires `policy`, so a validator that does not inject defaults reads an absent
// policy as local too.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "limit-req",
		Priority:       1001,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password"},
		DefaultEnabled: true,
	})
}
