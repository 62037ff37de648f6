// Package clientcontrol registers APISIX's client-control plugin: it sets the maximum request
// body size per route.
package clientcontrol

import (
	_ "embed"
	"encoding/json"
	"math"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "client-control",
		Priority:       22000,
		Schema:         schema,
		DefaultEnabled: true,
		New:            newClientControl,
	})
}

type config struct {
	MaxBodySize *int64 `json:"max_body_size"`
}

// ClientControl is one compiled client-control conf.
type ClientControl struct {
	maxBodySize int64 // < 0: not configured
}

func newClientControl(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	cc := &ClientControl{maxBodySize: -1}
	if c.MaxBodySize != nil {
		cc.maxBodySize = *c.MaxBodySize
	}
	return cc, nil
}

// Rewrite refuses a declared body over the limit with 413 and sets the limit the body is read
// under (plugin.BodyLimiter), which also holds a chunked body to it.
func (cc *ClientControl) Rewrite(c plugin.Ctx) {
	if cc.maxBodySize < 0 {
		return // APISIX does nothing without max_body_size
	}
	if cc.maxBodySize > 0 {
		if n, ok := declaredLength(c); ok && n > cc.maxBodySize {
			c.Exit(413, nil)
			return
		}
	}
	bl, ok := c.(plugin.BodyLimiter)
	if !ok {
		c.Exit(503, nil) // APISIX: the limit could not be set
		return
	}
	bl.SetMaxBodySize(cc.maxBodySize)
}

// declaredLength is the request's Content-Length, when it has a valid one (saturating at
// MaxInt64: a longer run of digits is still over any limit).
func declaredLength(c plugin.Ctx) (int64, bool) {
	v, ok := c.Header("Content-Length")
	if !ok || len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, b := range v {
		if b < '0' || b > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

var _ plugin.Rewriter = (*ClientControl)(nil)
