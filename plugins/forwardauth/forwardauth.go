// Package forwardauth registers APISIX's forward-auth plugin: it asks an external HTTP service
// whether to let a request through and copies selected headers between the two. It is not a
// type=auth plugin: it attaches no consumer.
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
		New:            New,
	})
}
