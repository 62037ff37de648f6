// Package grpctranscode registers APISIX's grpc-transcode plugin: it transcodes HTTP/JSON requests
// to gRPC calls described by a proto resource, and the gRPC responses back to JSON.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package grpctranscode

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "grpc-transcode",
		Priority:       506,
		Schema:         schema,
		DefaultEnabled: true,
	})
}
