// Package aiproxy registers APISIX's ai-proxy plugin, which proxies requests to an LLM provider
// (OpenAI, DeepSeek, Anthropic, Azure OpenAI, Gemini, Vertex AI, Bedrock, ...). Only the
// registration is here (name, priority, the config schema, read from apisix/plugins/ai-proxy.lua
// and ai-proxy/schema.lua); the plugin's behaviour is not implemented yet.
package aiproxy

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
		Name:     "ai-proxy",
		Priority: 1040,
		Version:  "0.5",
		Schema:   schema,
		EncryptFields: []string{
			"auth.header",
			"auth.query",
			"auth.gcp.service_account_json",
			"auth.aws.secret_access_key",
			"auth.aws.session_token",
		},
		DefaultEnabled: true,
	})
}
