// Package refererrestriction registers APISIX's referer-restriction plugin: it allows or denies
// requests by the host of their Referer header (exact or `*.` suffix match).
package refererrestriction

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "referer-restriction",
		Priority:       2990,
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}
