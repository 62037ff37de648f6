// Package csrf registers APISIX's csrf plugin: double-submit-cookie CSRF protection with a signed
// token set as a cookie and checked against a request header on unsafe methods.
package csrf

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "csrf",
		Priority:       2980,
		Schema:         schema,
		EncryptFields:  []string{"key"},
		DefaultEnabled: true,
		New:            New,
	})
}
