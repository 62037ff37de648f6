// Package airequestrewrite registers APISIX's ai-request-rewrite plugin, which sends the request
// body to an LLM with a prompt and forwards the LLM's rewrite upstream. Only the registration is
// here (name, priority, the config schema, read from apisix/plugins/ai-request-rewrite.lua); the
// plugin's behaviour is not implemented yet.
package airequestrewrite

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
		Name:           "ai-request-rewrite",
		Priority:       1073,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
