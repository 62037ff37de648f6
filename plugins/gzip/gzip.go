// Package gzip registers APISIX's gzip plugin: it gzip-compresses responses of the listed content
// types when the client accepts it.
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
		New:            newGzip,
	})
}
