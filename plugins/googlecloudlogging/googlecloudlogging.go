// Package googlecloudlogging registers APISIX's google-cloud-logging plugin, which batches
// access-log entries into Google Cloud Logging. Only the registration is here (name, priority, the
// config schema and the plugin_metadata schema, read from apisix/plugins/google-cloud-logging.lua);
// the plugin's behaviour is not implemented yet.
package googlecloudlogging

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/google-cloud-logging.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "google-cloud-logging",
		Priority:       407,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"auth_config.private_key"},
		DefaultEnabled: true,
	})
}
