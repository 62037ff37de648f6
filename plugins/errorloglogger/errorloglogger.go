// Package errorloglogger registers APISIX's error-log-logger plugin, which ships error.log lines to
// a TCP server, SkyWalking, ClickHouse or Kafka; configured through plugin_metadata. Only the
// registration is here (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/error-log-logger.lua); the plugin's behaviour is not implemented yet. It may only
// be used in global rules; its targets live in the metadata.
package errorloglogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/error-log-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "error-log-logger",
		Priority:       1091,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"clickhouse.password"},
		Scope:          "global",
	})
}
