// Package consumerrestriction registers APISIX's consumer-restriction plugin: it allows or denies a
// request by its consumer name, consumer group, route or service (optionally per HTTP method).
package consumerrestriction

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "consumer-restriction",
		Priority:       2400,
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}
