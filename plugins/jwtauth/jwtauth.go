// Package jwtauth registers APISIX's jwt-auth plugin: it verifies a JWT from a header, query
// argument or cookie against the consumer named by its key claim (HS*, RS*, ES*, PS* and EdDSA).
package jwtauth

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

//go:embed consumer_schema.json
var consumerSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "jwt-auth",
		Priority:       2510,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		EncryptFields:  []string{"secret"},
		DefaultEnabled: true,
		New:            New,
		Index:          Index,
	})
}
