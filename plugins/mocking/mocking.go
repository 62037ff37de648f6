// Package mocking registers APISIX's mocking plugin: it answers requests itself with an example
// body or one generated from a JSON schema, without contacting the upstream.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
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
	})
}
