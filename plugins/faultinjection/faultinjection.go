// Package faultinjection registers APISIX's fault-injection plugin: it delays and/or aborts a
// share of requests, optionally only those matching expressions, for chaos testing.
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
		New:            newFaultInjection,
	})
}
