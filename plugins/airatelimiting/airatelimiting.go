// Package airatelimiting registers APISIX's ai-rate-limiting plugin, which limits LLM token usage
// per AI instance or rule in a time window. Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/ai-rate-limiting.lua); the plugin's behaviour is not
// implemented yet. The policy if-clauses also require policy, as limit-count's do.
package airatelimiting

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
		Name:           "ai-rate-limiting",
		Priority:       1030,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"redis_password", "sentinel_password"},
		DefaultEnabled: true,
	})
}
