// Package limitcount registers APISIX's limit-count plugin, which limits the number of requests per
// key in a fixed or sliding time window and reports X-RateLimit-* headers. Only the registration is
// here (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/limit-count.lua and reference/plugins.md); the plugin's phases are not implemented
// yet.
package limitcount

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/limit-count.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// APISIX's if/then/else on policy relies on its validator injecting the `local` default first; the
// `if` here also requires `policy`, so a validator that does not inject defaults reads an absent
// policy as local too.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "limit-count",
		Priority:       1002,
		Version:        "0.5",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"redis_password", "sentinel_password"},
		DefaultEnabled: true,
	})
}
