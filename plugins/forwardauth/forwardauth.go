// Package forwardauth registers APISIX's forward-auth plugin: it asks an external HTTP service
// whether to let a request through and copies selected headers between the two. It is not a
// type=auth plugin: it attaches no consumer.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package forwardauth

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "forward-auth",
		Priority:       2002,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
