// Package brotli registers APISIX's brotli plugin: it brotli-compresses responses of the listed
// content types when the client accepts br. Like APISIX, it is not enabled by default.
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
		New:            newBrotli,
	})
}
