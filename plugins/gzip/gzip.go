// Package gzip registers APISIX's gzip plugin: it gzip-compresses responses of the listed content
// types when the client accepts it.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package gzip

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "gzip",
		Priority:       995,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
