// Package graphqllimitcount registers APISIX's graphql-limit-count plugin, which limits requests
// per key by the depth of their GraphQL query, using limit-count's counters. Only the registration
// is here (name, priority, the config schema, read from apisix/plugins/graphql-limit-count.lua);
// the plugin's behaviour is not implemented yet. Its schema is limit-count's (the Lua module reuses
// limit_count.schema).
package graphqllimitcount

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
		Name:           "graphql-limit-count",
		Priority:       1004,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password", "sentinel_password"},
		DefaultEnabled: true,
	})
}
