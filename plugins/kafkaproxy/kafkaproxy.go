// Package kafkaproxy registers APISIX's kafka-proxy plugin, which sets the SASL credentials APISIX
// uses for a Kafka pubsub upstream. Only the registration is here (name, priority, the config
// schema, read from apisix/plugins/kafka-proxy.lua); the plugin's behaviour is not implemented yet.
package kafkaproxy

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "kafka-proxy",
		Priority:       508,
		Version:        "0.1",
		Schema:         schema,
		EncryptFields:  []string{"sasl.password"},
		DefaultEnabled: true,
	})
}
