// Package workflow registers APISIX's workflow plugin, which runs the first action (return, limit-
// count, limit-conn) whose case expression matches. Only the registration is here (name, priority,
// the config schema, read from apisix/plugins/workflow.lua and reference/plugins.md); the plugin's
// phases are not implemented yet.
package workflow

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
		Name:           "workflow",
		Priority:       1006,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
