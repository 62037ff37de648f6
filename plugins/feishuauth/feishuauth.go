// Package feishuauth registers APISIX's feishu-auth plugin, which identifies the user with a Feishu
// (Lark) authorization code and keeps the identity in a session cookie. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/feishu-auth.lua); the plugin's
// behaviour is not implemented yet.
package feishuauth

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
		Name:           "feishu-auth",
		Priority:       2420,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"app_secret", "secret", "secret_fallbacks"},
		DefaultEnabled: true,
	})
}
