// Package aicache registers APISIX's ai-cache plugin, which caches LLM responses in Redis, keyed by
// the exact prompt. Only the registration is here (name, priority, the config schema, read from
// apisix/plugins/ai-cache.lua and ai-cache/schema.lua); the plugin's behaviour is not implemented
// yet. The policy if-clauses also require policy, as limit-count's do.
package aicache

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
		Name:           "ai-cache",
		Priority:       1035,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password"},
		DefaultEnabled: true,
	})
}
