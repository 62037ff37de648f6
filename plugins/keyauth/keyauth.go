// Package keyauth registers APISIX's key-auth plugin: it authenticates a request by an API key
// taken from a header or query argument and attaches the consumer whose credential holds that key.
package keyauth

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
		Name:           "key-auth",
		Priority:       2500,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		EncryptFields:  []string{"key"},
		DefaultEnabled: true,
		New:            New,
		Index:          Index,
	})
}
