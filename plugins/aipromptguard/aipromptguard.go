// Package aipromptguard registers APISIX's ai-prompt-guard plugin, which allows or denies chat
// prompts by regular expressions. Only the registration is here (name, priority, the config schema,
// read from apisix/plugins/ai-prompt-guard.lua); the plugin's behaviour is not implemented yet.
package aipromptguard

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
		Name:           "ai-prompt-guard",
		Priority:       1072,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
