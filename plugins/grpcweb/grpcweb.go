// Package grpcweb registers APISIX's grpc-web plugin: it translates gRPC-Web requests from
// browsers into gRPC requests to the upstream and the responses back.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package grpcweb

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "grpc-web",
		Priority:       505,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
