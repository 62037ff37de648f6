// Package proxyrewrite registers APISIX's proxy-rewrite plugin: it rewrites the upstream request's
// URI (template or regex), method, Host and headers.
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
		New:            newProxyRewrite,
	})
}
