// Package redirect registers APISIX's redirect plugin: it answers with a redirect to a templated
// or regex-rewritten URI, or from HTTP to HTTPS.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package redirect

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "redirect",
		Priority:       900,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
