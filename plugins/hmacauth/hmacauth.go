// Package hmacauth registers APISIX's hmac-auth plugin: it verifies HTTP request signatures
// (draft-cavage `Signature` scheme) made with a consumer's key_id and secret_key.
package hmacauth

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
		Name:           "hmac-auth",
		Priority:       2530,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		EncryptFields:  []string{"secret_key"},
		DefaultEnabled: true,
		New:            New,
		Index:          Index,
	})
}
