// Package exittransformer registers APISIX's exit-transformer plugin: it rewrites responses that
// plugins end a request with, using Lua functions. Its only field holds Lua source, which Sluice
// rejects at write time (DESIGN: Lua-only fields), so it is registered for the catalogue alone.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package exittransformer

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "exit-transformer",
		Priority:       22950,
		Schema:         schema,
		DefaultEnabled: false,
	})
}
