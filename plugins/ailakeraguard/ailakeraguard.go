// Package ailakeraguard registers APISIX's ai-lakera-guard plugin, which scans prompts with Lakera
// Guard for prompt injection and PII and blocks or flags them. Only the registration is here (name,
// priority, the config schema, read from apisix/plugins/ai-lakera-guard.lua and
// ai-lakera-guard/schema.lua); the plugin's behaviour is not implemented yet.
package ailakeraguard

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
		Name:           "ai-lakera-guard",
		Priority:       1028,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"api_key"},
		DefaultEnabled: true,
	})
}
