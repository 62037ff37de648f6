// Package mocking registers APISIX's mocking plugin: it answers requests itself with an example
// body or one generated from a JSON schema, without contacting the upstream.
package mocking

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "mocking",
		Priority:       10900,
		Schema:         schema,
		DefaultEnabled: true,
		New:            newMocking,
	})
}
