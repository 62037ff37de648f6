// Package proxybuffering registers APISIX's proxy-buffering plugin, which turns proxy response
// buffering off per route, e.g. for server-sent events.
//
// Sluice never buffers a proxied response: it streams the upstream's body to the client as it
// arrives, so what APISIX gets from disable_proxy_buffering is always on. The plugin records the
// setting for the request (DisableProxyBufferingKey) and exists so that APISIX configurations
// naming it load and behave the same.
package proxybuffering

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "proxy-buffering",
		Priority:       21991,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}

// ctxKey types this package's per-request keys, so no other package can collide with them.
type ctxKey uint8

// DisableProxyBufferingKey is the per-request key (plugin.Ctx Get) under which the rewrite
// phase records disable_proxy_buffering, a bool. Sluice streams responses whatever it says;
// the value is there for plugins or a runtime that want to know what the route asked for.
const DisableProxyBufferingKey ctxKey = 1

// ProxyBuffering is one compiled proxy-buffering conf.
type ProxyBuffering struct {
	disable bool
}

// New compiles a proxy-buffering conf; disable_proxy_buffering defaults to false.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	var cf struct {
		Disable bool `json:"disable_proxy_buffering"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cf); err != nil {
			return nil, fmt.Errorf("proxy-buffering: %w", err)
		}
	}
	return &ProxyBuffering{disable: cf.Disable}, nil
}

// Rewrite records the route's choice for the request.
func (p *ProxyBuffering) Rewrite(c plugin.Ctx) { c.Set(DisableProxyBufferingKey, p.disable) }

var _ plugin.Rewriter = (*ProxyBuffering)(nil)
