package publicapi

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// apiNode is a plugin.Node serving one API.
type apiNode struct{ api plugin.API }

func (n apiNode) Config(string) json.RawMessage { return nil }
func (n apiNode) Logger() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (n apiNode) Hostname() string              { return "h" }
func (n apiNode) Version() string               { return "v" }
func (n apiNode) ID() string                    { return "id" }
func (n apiNode) Status() plugin.NodeStatus     { return plugin.NodeStatus{} }
func (n apiNode) API(uri string) (plugin.API, bool) {
	return n.api, uri == n.api.URI
}

func TestAccess(t *testing.T) {
	node := apiNode{api: plugin.API{URI: "/apisix/prometheus/metrics", Methods: []string{"GET"},
		Serve: func(c plugin.Ctx) { c.Exit(200, []byte("metrics")) }}}
	for _, tc := range []struct {
		name, conf, method, path string
		status                   int
		body                     string
	}{
		{"own uri", `{}`, "GET", "/apisix/prometheus/metrics", 200, "metrics"},
		{"conf uri", `{"uri":"/apisix/prometheus/metrics"}`, "GET", "/metrics", 200, "metrics"},
		{"wrong method", `{}`, "POST", "/apisix/prometheus/metrics", 404, ""},
		{"no such api", `{}`, "GET", "/nothing", 404, ""},
		{"conf uri with no api", `{"uri":"/nothing"}`, "GET", "/apisix/prometheus/metrics", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := newInstance(json.RawMessage(tc.conf), plugin.Env{Node: node})
			if err != nil {
				t.Fatal(err)
			}
			c := plugintest.New()
			c.MethodV, c.Path = tc.method, tc.path
			inst.(plugin.Accessor).Access(c)
			if !c.Exited() || c.ExitStatus != tc.status || string(c.ExitBody) != tc.body {
				t.Errorf("exit %v %d %q", c.Exited(), c.ExitStatus, c.ExitBody)
			}
		})
	}
}

func TestNoNode(t *testing.T) {
	// Admin API validation compiles without a node; a request can then only be refused.
	inst := plugintest.MustNew(t, "public-api", `{"uri":"/apisix/prometheus/metrics"}`)
	c := plugintest.New()
	inst.(plugin.Accessor).Access(c)
	if c.ExitStatus != 404 || c.ExitBody != nil {
		t.Errorf("exit %d %q", c.ExitStatus, c.ExitBody)
	}
}
