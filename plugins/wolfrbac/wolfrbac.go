// Package wolfrbac registers APISIX's wolf-rbac plugin: it authorizes requests with a wolf RBAC
// server, using the consumer whose appid is named in the request's rbac token.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package wolfrbac

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// wolf-rbac has one schema for routes and consumers (APISIX validates both with it), so it is
// registered as the consumer schema too.

//go:embed schema.json
var schema []byte

//go:embed consumer_schema.json
var consumerSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "wolf-rbac",
		Priority:       2555,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		DefaultEnabled: true,
	})
}
