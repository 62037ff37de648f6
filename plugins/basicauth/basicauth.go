// Package basicauth registers APISIX's basic-auth plugin: HTTP Basic authentication against the
// username and password credentials of consumers.
package basicauth

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
		Name:           "basic-auth",
		Priority:       2520,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		EncryptFields:  []string{"password"},
		DefaultEnabled: true,
		New:            New,
		Index:          Index,
	})
}
