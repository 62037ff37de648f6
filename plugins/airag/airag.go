// Package airag registers APISIX's ai-rag plugin, which augments chat prompts with documents found
// by embeddings and vector search (optionally reranked). Only the registration is here (name,
// priority, the config schema, read from apisix/plugins/ai-rag.lua); the plugin's behaviour is not
// implemented yet.
package airag

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "ai-rag",
		Priority:       1060,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
	})
}
