// Package responserewrite registers APISIX's response-rewrite plugin: it rewrites the status,
// headers and body of responses (whole-body replacement or regex filters), optionally conditioned
// on an expression.
package responserewrite

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "response-rewrite",
		Priority:       899,
		Schema:         schema,
		DefaultEnabled: true,
		New:            newResponseRewrite,
	})
}
