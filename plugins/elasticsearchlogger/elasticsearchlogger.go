// Package elasticsearchlogger registers APISIX's elasticsearch-logger plugin, which batches access-
// log entries and indexes them into Elasticsearch through the _bulk API. Only the registration is
// here (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/elasticsearch-logger.lua and reference/plugins.md); the plugin's phases are not
// implemented yet.
package elasticsearchlogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/elasticsearch-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "elasticsearch-logger",
		Priority:       413,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"auth.password", "headers"},
		DefaultEnabled: true,
	})
}
