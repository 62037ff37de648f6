// Package aialiyuncontentmoderation registers APISIX's ai-aliyun-content-moderation plugin, which
// moderates LLM requests and responses with Aliyun's text moderation service. Only the registration
// is here (name, priority, the config schema, read from
// apisix/plugins/ai-aliyun-content-moderation.lua); the plugin's behaviour is not implemented yet.
package aialiyuncontentmoderation

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
		Name:           "ai-aliyun-content-moderation",
		Priority:       1029,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"access_key_secret"},
		DefaultEnabled: true,
	})
}
