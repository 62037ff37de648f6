// Package uriblocker registers APISIX's uri-blocker plugin: it rejects requests whose raw request
// URI matches any of a set of regular expressions.
package uriblocker

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "uri-blocker",
		Priority:       2900,
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}
