// Package redirect registers APISIX's redirect plugin: it answers with a redirect to a templated
// or regex-rewritten URI, or from HTTP to HTTPS.
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
		New:            newRedirect,
	})
}
