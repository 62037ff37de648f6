// Package logrotate registers APISIX's log-rotate plugin, which rotates and optionally compresses
// the access and error logs. Only the registration is here (name, priority, the config schema, read
// from apisix/plugins/log-rotate.lua); the plugin's behaviour is not implemented yet. It may only
// be used in global rules; its settings are plugin_attr in config.yaml.
package logrotate

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
		Name:     "log-rotate",
		Priority: 100,
		Version:  "0.1",
		Schema:   schema,
		Scope:    "global",
	})
}
