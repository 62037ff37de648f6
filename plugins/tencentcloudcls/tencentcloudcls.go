// Package tencentcloudcls registers APISIX's tencent-cloud-cls plugin, which samples access-log
// entries and sends them to Tencent Cloud Log Service. Only the registration is here (name,
// priority, the config schema and the plugin_metadata schema, read from apisix/plugins/tencent-
// cloud-cls.lua and reference/plugins.md); the plugin's phases are not implemented yet.
package tencentcloudcls

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/tencent-cloud-cls.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "tencent-cloud-cls",
		Priority:       397,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"secret_key"},
		DefaultEnabled: true,
	})
}
