// Package cors registers APISIX's cors plugin: it answers CORS preflight requests and adds the
// Access-Control-* (and Timing-Allow-Origin) response headers for allowed origins.
package cors

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
		Name:           "cors",
		Priority:       4000,
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		New:            New,
	})
}
