// Package jwedecrypt registers APISIX's jwe-decrypt plugin: it decrypts a JWE token (dir +
// A256GCM) with the secret of the consumer named by its kid and forwards the plaintext upstream.
//
// Only the registration and the schemas exist so far (the Admin API validates and serves them);
// the plugin's behaviour is not implemented yet.
package jwedecrypt

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
		Name:           "jwe-decrypt",
		Priority:       2509,
		Type:           "auth",
		Schema:         schema,
		ConsumerSchema: consumerSchema,
		DefaultEnabled: true,
	})
}
