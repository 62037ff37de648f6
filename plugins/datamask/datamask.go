// Package datamask registers APISIX's data-mask plugin: it removes, replaces or regex-masks query,
// header and body fields of the request as the loggers see it.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package datamask

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "data-mask",
		Priority:       1500,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
