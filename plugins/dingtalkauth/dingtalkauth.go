// Package dingtalkauth registers APISIX's dingtalk-auth plugin, which identifies the user with a
// DingTalk authorization code and keeps the identity in a session cookie. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/dingtalk-auth.lua); the
// plugin's behaviour is not implemented yet.
package dingtalkauth

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
		Name:           "dingtalk-auth",
		Priority:       2430,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"app_secret", "secret", "secret_fallbacks"},
		DefaultEnabled: true,
	})
}
