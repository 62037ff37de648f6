// Package chaitinwaf registers APISIX's chaitin-waf plugin: it sends requests to Chaitin SafeLine
// WAF nodes (named in the plugin metadata) and blocks or monitors what they reject.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package chaitinwaf

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
		Name:           "chaitin-waf",
		Priority:       2700,
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
