// Package kafkalogger registers APISIX's kafka-logger plugin, which batches access-log entries and
// produces them to a Kafka topic. Only the registration is here (name, priority, the config schema
// and the plugin_metadata schema, read from apisix/plugins/kafka-logger.lua and
// reference/plugins.md); the plugin's phases are not implemented yet.
package kafkalogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/kafka-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "kafka-logger",
		Priority:       403,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"brokers.sasl_config.password"},
		DefaultEnabled: true,
	})
}
