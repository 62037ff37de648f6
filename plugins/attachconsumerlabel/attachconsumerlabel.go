// Package attachconsumerlabel registers APISIX's attach-consumer-label plugin: it copies labels of
// the authenticated consumer into upstream request headers.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package attachconsumerlabel

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "attach-consumer-label",
		Priority:       2399,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
