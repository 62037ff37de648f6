// Package loggly registers APISIX's loggly plugin, which sends access-log entries to Loggly over
// syslog (UDP) or its HTTP(S) bulk endpoint. Only the registration is here (name, priority, the
// config schema and the plugin_metadata schema, read from apisix/plugins/loggly.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package loggly

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/loggly.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// APISIX's tag pattern ^(?!tag=)[ -~]* uses a PCRE lookahead; the RE2 pattern here accepts the same
// strings (any string not starting with "tag=").
func init() {
	plugin.Register(plugin.Definition{
		Name:           "loggly",
		Priority:       411,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
