// Package batchrequests registers APISIX's batch-requests plugin, which serves
// /apisix/batch-requests, which pipelines several requests in one call. Only the registration is
// here (name, priority, the config schema and the plugin_metadata schema, read from
// apisix/plugins/batch-requests.lua); the plugin's behaviour is not implemented yet.
package batchrequests

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/batch-requests.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "batch-requests",
		Priority:       4010,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
	})
}
