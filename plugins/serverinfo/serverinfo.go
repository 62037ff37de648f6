// Package serverinfo registers APISIX's server-info plugin, which reports this node's id, version
// and boot time to etcd (deprecated in APISIX). Only the registration is here (name, priority, the
// config schema, read from apisix/plugins/server-info.lua and reference/plugins.md); the plugin's
// phases are not implemented yet.
package serverinfo

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
		Name:     "server-info",
		Priority: 990,
		Version:  "0.1",
		Schema:   schema,
		Scope:    "global",
	})
}
