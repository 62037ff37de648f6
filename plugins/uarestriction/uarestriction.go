// Package uarestriction registers APISIX's ua-restriction plugin: it allows or denies requests
// by regular expressions on the User-Agent header.
package uarestriction

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "ua-restriction",
		Priority:       2999,
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}
