// Package graphqlproxycache registers APISIX's graphql-proxy-cache plugin, which caches responses
// to GraphQL queries (mutations bypass the cache) and serves a PURGE API. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/graphql-proxy-cache.lua); the
// plugin's behaviour is not implemented yet.
package graphqlproxycache

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
		Name:           "graphql-proxy-cache",
		Priority:       1009,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
