// Package syslog registers APISIX's syslog plugin, which sends access-log entries as RFC 5424
// syslog lines over TCP or UDP. Only the registration is here (name, priority, the config schema
// and the plugin_metadata schema, read from apisix/plugins/syslog.lua and reference/plugins.md);
// the plugin's phases are not implemented yet.
package syslog

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/syslog.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// The stream variant's schema (no body-capture fields) is not registered separately: Definition
// carries one schema.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "syslog",
		Priority:       401,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 401,
	})
}
