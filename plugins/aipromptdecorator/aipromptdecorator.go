// Package aipromptdecorator registers APISIX's ai-prompt-decorator plugin, which prepends and
// appends fixed messages to a chat prompt. Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/ai-prompt-decorator.lua); the plugin's behaviour is not
// implemented yet.
package aipromptdecorator

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
		Name:           "ai-prompt-decorator",
		Priority:       1070,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
