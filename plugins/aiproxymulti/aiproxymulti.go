// Package aiproxymulti registers APISIX's ai-proxy-multi plugin, which load-balances requests
// across several LLM instances with priorities, health checks and fallback. Only the registration
// is here (name, priority, the config schema, read from apisix/plugins/ai-proxy-multi.lua and
// ai-proxy/schema.lua); the plugin's behaviour is not implemented yet. An instance's checks.active
// is the upstream health checker schema.
package aiproxymulti

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
		Name:     "ai-proxy-multi",
		Priority: 1041,
		Version:  "0.5",
		Schema:   schema,
		EncryptFields: []string{
			"instances.auth.header",
			"instances.auth.query",
			"instances.auth.gcp.service_account_json",
			"instances.auth.aws.secret_access_key",
			"instances.auth.aws.session_token",
		},
		DefaultEnabled: true,
	})
}
