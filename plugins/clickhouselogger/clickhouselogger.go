// Package clickhouselogger registers APISIX's clickhouse-logger plugin, which batches access-log
// entries and inserts them into a ClickHouse table (JSONEachRow). Only the registration is here
// (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/clickhouse-logger.lua and reference/plugins.md); the plugin's phases are not
// implemented yet.
package clickhouselogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/clickhouse-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "clickhouse-logger",
		Priority:       398,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"password"},
		DefaultEnabled: true,
	})
}
