// Package aiprompttemplate registers APISIX's ai-prompt-template plugin, which fills a named prompt
// template with values from the request body. Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/ai-prompt-template.lua); the plugin's behaviour is not
// implemented yet.
package aiprompttemplate

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
		Name:           "ai-prompt-template",
		Priority:       1071,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
