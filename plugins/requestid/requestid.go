// Package requestid registers APISIX's request-id plugin: it gives each request an id (uuid,
// uuidv7, nanoid, ksuid or range_id) in a header sent upstream and, optionally, back to the client.
package requestid

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "request-id",
		Priority:       12015,
		Schema:         schema,
		DefaultEnabled: true,
		New:            newRequestID,
	})
}
