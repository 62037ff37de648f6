// Package degraphql registers APISIX's degraphql plugin: it turns a plain REST request into a
// GraphQL query (fixed query, variables taken from the request) for a GraphQL upstream.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package degraphql

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// APISIX gives `category` the default constants.PLUGIN_CATEGORY_TRANSFORMATION; its value could not
// be read from the stored sources, so schema.json declares the field without a default.

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "degraphql",
		Priority:       509,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
