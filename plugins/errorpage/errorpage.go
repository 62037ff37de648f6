// Package errorpage registers APISIX's error-page plugin: it replaces the bodies of error
// responses Sluice itself generates (404, 500, 502, 503) with pages from the plugin metadata.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package errorpage

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "error-page",
		Priority:       450,
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: false,
	})
}
