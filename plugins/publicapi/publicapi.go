// Package publicapi implements APISIX's public-api plugin: a route carrying it serves the
// internal APIs of the node's started plugins (prometheus metrics when its export server is
// off, batch-requests, ...), found by URI through plugin.Node.API. Combine it with an auth
// plugin on the same route to protect the API.
package publicapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "public-api",
		Priority:       501,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		New:            newInstance,
	})
}

type conf struct {
	URI string `json:"uri"`
}

type publicAPI struct {
	uri  string // conf.uri; "" dispatches on the request's own $uri
	node plugin.Node
}

func newInstance(raw json.RawMessage, env plugin.Env) (any, error) {
	var c conf
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("public-api: %w", err)
		}
	}
	return &publicAPI{uri: c.URI, node: env.Node}, nil
}

// Access dispatches to the plugin API at uri (or $uri) when the method is one it accepts;
// anything else ends with a bare 404, as APISIX's api router does.
func (p *publicAPI) Access(c plugin.Ctx) {
	uri := p.uri
	if uri == "" {
		uri = string(c.URI())
	} else {
		// APISIX overwrites ctx.var.uri before matching; the API sees the target uri.
		c.SetURI(uri)
	}
	if p.node != nil {
		if api, ok := p.node.API(uri); ok && methodAllowed(api.Methods, c.Method()) {
			api.Serve(c)
			return
		}
	}
	c.Exit(http.StatusNotFound, nil)
}

func methodAllowed(methods []string, m []byte) bool {
	if len(methods) == 0 {
		return true
	}
	for _, want := range methods {
		if want == string(m) {
			return true
		}
	}
	return false
}

var _ plugin.Accessor = (*publicAPI)(nil)
