// Package acl registers APISIX's acl plugin: it allows or denies a request by the labels of its
// consumer, or by a field of an externally authenticated user.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package acl

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "acl",
		Priority:       2410,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
