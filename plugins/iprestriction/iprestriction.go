// Package iprestriction registers APISIX's ip-restriction plugin: it allows or denies clients by
// IP address or CIDR, on HTTP routes (access) and on stream routes (preread).
package iprestriction

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "ip-restriction",
		Priority:       3000,
		Schema:         schema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 3000,
		New:            New,
	})
}
