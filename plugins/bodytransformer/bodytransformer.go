// Package bodytransformer registers APISIX's body-transformer plugin: it rewrites request and
// response bodies (JSON, XML, form, multipart, args) through templates.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package bodytransformer

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "body-transformer",
		Priority:       1080,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
