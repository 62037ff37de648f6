// Package splunkheclogging registers APISIX's splunk-hec-logging plugin, which batches access-log
// entries and sends them to a Splunk HTTP Event Collector. Only the registration is here (name,
// priority, the config schema and the plugin_metadata schema, read from apisix/plugins/splunk-hec-
// logging.lua and reference/plugins.md); the plugin's phases are not implemented yet.
package splunkheclogging

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/splunk-hec-logging.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "splunk-hec-logging",
		Priority:       409,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"endpoint.token"},
		DefaultEnabled: true,
	})
}
