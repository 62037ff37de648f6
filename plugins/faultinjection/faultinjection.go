// Package faultinjection registers APISIX's fault-injection plugin: it delays and/or aborts a
// share of requests, optionally only those matching expressions, for chaos testing.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package faultinjection

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "fault-injection",
		Priority:       11000,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
