// Package echo registers APISIX's echo plugin: it replaces, prefixes or suffixes the response
// body and sets response headers (mainly for testing).
package echo

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "echo",
		Priority:       412,
		Schema:         schema,
		DefaultEnabled: true,
		New:            newEcho,
	})
}
