// Package proxyrewrite registers APISIX's proxy-rewrite plugin: it rewrites the upstream request's
// URI (template or regex), method, Host and headers.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package proxyrewrite

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "proxy-rewrite",
		Priority:       1008,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
