// Package skywalkinglogger registers APISIX's skywalking-logger plugin, which batches access-log
// entries and pushes them to a SkyWalking OAP server's /v3/logs. Only the registration is here
// (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/skywalking-logger.lua and reference/plugins.md); the plugin's phases are not
// implemented yet.
package skywalkinglogger

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/skywalking-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "skywalking-logger",
		Priority:       408,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
