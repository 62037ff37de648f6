// Package azurefunctions registers APISIX's azure-functions plugin, which invokes an Azure Function
// as the upstream. Only the registration is here (name, priority, the config schema and the
// plugin_metadata schema, read from apisix/plugins/azure-functions.lua and
// serverless/generic-upstream.lua); the plugin's behaviour is not implemented yet.
package azurefunctions

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/azure-functions.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "azure-functions",
		Priority:       -1900,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
