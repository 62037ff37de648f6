// Package realip registers APISIX's real-ip plugin: it replaces the client address with one taken
// from a header, query argument or other variable when the peer is trusted.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package realip

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "real-ip",
		Priority:       23000,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
