// Package limitconn registers APISIX's limit-conn plugin, which limits concurrent requests (or
// stream connections) per key, delaying a burst and rejecting beyond it. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/limit-conn.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package limitconn

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
// policy as local too. The stream variant's narrower schema (conn, burst, default_conn_delay, key;
// no redis, no rules) is not registered separately: Definition carries one schema.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "limit-conn",
		Priority:       1003,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password"},
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 1003,
	})
}
