// Package proxycontrol registers APISIX's proxy-control plugin: it turns request body buffering
// before proxying on or off per route.
package proxycontrol

import (
	_ "embed"
	"encoding/json"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "proxy-control",
		Priority:       21990,
		Schema:         schema,
		DefaultEnabled: true,
		New:            newProxyControl,
	})
}

// ctxKey types this package's per-request keys, so no other package can collide with them.
type ctxKey uint8

// RequestBufferingKey is the per-request key (plugin.Ctx Get) under which the rewrite phase
// records request_buffering, a bool: nginx's proxy_request_buffering for this request. true
// reads the whole client body before the upstream is contacted; false streams it to the
// upstream as it arrives. Absent means the gateway's default. It takes effect once the
// forwarding runtime reads it.
const RequestBufferingKey ctxKey = 1

type config struct {
	RequestBuffering *bool `json:"request_buffering"`
}

// ProxyControl is one compiled proxy-control conf.
type ProxyControl struct {
	requestBuffering bool
}

func newProxyControl(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	pc := &ProxyControl{requestBuffering: true}
	if c.RequestBuffering != nil {
		pc.requestBuffering = *c.RequestBuffering
	}
	return pc, nil
}

// Rewrite records the request's buffering mode.
func (pc *ProxyControl) Rewrite(c plugin.Ctx) { c.Set(RequestBufferingKey, pc.requestBuffering) }

var _ plugin.Rewriter = (*ProxyControl)(nil)
