// Package skywalking registers APISIX's skywalking plugin, which traces requests with Apache
// SkyWalking and reports segments to the OAP server. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/skywalking.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package skywalking

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// The node-wide settings (service_name, service_instance_name, endpoint_addr) are plugin_attr in
// config.yaml, not plugin metadata.
func init() {
	plugin.Register(plugin.Definition{
		Name:     "skywalking",
		Priority: 12010,
		Version:  "0.1",
		Schema:   schema,
	})
}
