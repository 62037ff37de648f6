// Package rocketmqlogger registers APISIX's rocketmq-logger plugin, which batches access-log
// entries into a RocketMQ topic. Only the registration is here (name, priority, the config schema
// and the plugin_metadata schema, read from apisix/plugins/rocketmq-logger.lua); the plugin's
// behaviour is not implemented yet.
package rocketmqlogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/rocketmq-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "rocketmq-logger",
		Priority:       402,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"secret_key"},
		DefaultEnabled: true,
	})
}
