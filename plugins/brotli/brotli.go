// Package brotli registers APISIX's brotli plugin: it brotli-compresses responses of the listed
// content types when the client accepts br. Like APISIX, it is not enabled by default.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package brotli

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "brotli",
		Priority:       996,
		Schema:         schema,
		DefaultEnabled: false,
	})
}
