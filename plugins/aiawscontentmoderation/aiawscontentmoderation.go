// Package aiawscontentmoderation registers APISIX's ai-aws-content-moderation plugin, which rejects
// requests whose body AWS Comprehend rates as toxic. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/ai-aws-content-moderation.lua); the plugin's
// behaviour is not implemented yet. Its priority is 1031 as in the code (config.yaml.example says
// 1050).
package aiawscontentmoderation

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
		Name:           "ai-aws-content-moderation",
		Priority:       1031,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
