// Package proxymirror implements APISIX's proxy-mirror plugin: a sample of requests is copied
// (method, URI, headers, body) to another host and the copy's response is discarded. The
// copy never delays or fails the client's request: it is queued to a small per-host worker
// pool (sender.go) and dropped when the queue is full.
package proxymirror

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "proxy-mirror",
		Priority:       1010,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
		Start:          start,
	})
}

type conf struct {
	Host           string  `json:"host"`
	Path           string  `json:"path"`
	PathConcatMode string  `json:"path_concat_mode"`
	SampleRatio    float64 `json:"sample_ratio"`
}

// Mirror is one compiled proxy-mirror conf.
type Mirror struct {
	path   string
	prefix bool // path_concat_mode prefix
	grpc   bool // grpc(s) host: the copy takes the URI final in before_proxy, as APISIX 3.17
	ratio  float64
	pool   *hostPool
	log    *slog.Logger
}

// uriKey keys the mirror URI chosen in rewrite until before_proxy sends the copy.
type uriKey struct{}

// New compiles conf and takes a reference on the host's shared sender.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := conf{PathConcatMode: "replace", SampleRatio: 1}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("proxy-mirror: %w", err)
	}
	scheme, hostport, ok := strings.Cut(c.Host, "://")
	if !ok {
		return nil, fmt.Errorf("proxy-mirror: host %q has no scheme", c.Host)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool, err := acquirePool(scheme, hostport, timeoutsFor(env), log)
	if err != nil {
		return nil, fmt.Errorf("proxy-mirror: %w", err)
	}
	return &Mirror{path: c.Path, prefix: c.PathConcatMode == "prefix", grpc: strings.HasPrefix(scheme, "grpc"),
		ratio: c.SampleRatio, pool: pool, log: log}, nil
}

// Rewrite samples the request and fixes the mirror URI now, as APISIX does: before
// proxy-rewrite (priority 1008) changes the upstream URI.
func (m *Mirror) Rewrite(c plugin.Ctx) {
	if m.ratio < 1 && rand.Float64() >= m.ratio {
		return
	}
	c.Set(uriKey{}, m.mirrorURI(c.RequestURI()))
}

// mirrorURI is the path and query the copy asks for: the request's own (path + ?args), or
// with path set, path + ?args (replace) or path + the request's path and query (prefix).
func (m *Mirror) mirrorURI(reqURI []byte) string {
	switch {
	case m.path == "":
		return string(reqURI)
	case m.prefix:
		return m.path + string(reqURI)
	}
	if i := indexQuery(reqURI); i >= 0 {
		return m.path + string(reqURI[i:])
	}
	return m.path
}

func indexQuery(uri []byte) int {
	for i, c := range uri {
		if c == '?' {
			return i
		}
	}
	return -1
}

// BeforeProxy sends the copy once every access plugin let the request through, as nginx's
// mirror subrequest runs after the access phase; it carries the headers and body as they
// are forwarded. The URI is taken out of the context, so a retry does not mirror again.
func (m *Mirror) BeforeProxy(c plugin.Ctx) {
	uri, _ := c.Get(uriKey{}).(string)
	if uri == "" {
		return
	}
	c.Set(uriKey{}, nil)
	if m.grpc {
		uri = m.mirrorURI(c.RequestURI())
	}
	m.pool.mirror(c, uri)
}

// Close drops the instance's reference on the host's sender; the last one stops it.
func (m *Mirror) Close() { m.pool.release() }

var (
	_ plugin.Rewriter      = (*Mirror)(nil)
	_ plugin.BeforeProxier = (*Mirror)(nil)
	_ plugin.Closer        = (*Mirror)(nil)
)
