// Package slslogger registers APISIX's sls-logger plugin, which sends access-log entries as RFC
// 5424 lines over TLS to Alibaba Cloud Log Service. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/sls-logger.lua and reference/plugins.md); the
// plugin's phases are not implemented yet.
package slslogger

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
		Name:           "sls-logger",
		Priority:       406,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
