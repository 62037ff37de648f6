// Package authzcasbin registers APISIX's authz-casbin plugin: Casbin (RBAC/ABAC) authorization of
// the user named in a request header, with model and policy from files or plugin metadata.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package authzcasbin

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// APISIX's check_schema also accepts a conf with only `username` when the plugin metadata holds the
// model and policy; the Admin API has to apply that exception, the schema cannot express it.

//go:embed schema.json
var schema []byte

//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "authz-casbin",
		Priority:       2560,
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
	})
}
