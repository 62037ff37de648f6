package e2e

import (
	"strings"
	"testing"
)

// TestPluginSemanticChecksOnWrite: checks a plugin makes beyond its JSON Schema reject the
// Admin API write with APISIX's wording, instead of failing the route at run time.
func TestPluginSemanticChecksOnWrite(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	up := `"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"cors credentials with wildcard origin",
			`{"uri":"/a","plugins":{"cors":{"allow_origins":"*","allow_credential":true}},` + up + `}`,
			400, ""},
		{"valid plugins are accepted",
			`{"uri":"/a","plugins":{"ip-restriction":{"whitelist":["10.0.0.0/8"]},"cors":{}},` + up + `}`,
			201, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "PUT", n.adminURL("/routes/a"), configuredKey, c.body)
			if r.Status != c.status || (c.want != "" && r.Body != c.want) {
				t.Errorf("got %d %q, want %d %q", r.Status, r.Body, c.status, c.want)
			}
			if c.status == 400 && c.want == "" && !strings.Contains(r.Body, "failed to check the configuration of plugin cors err: ") {
				t.Errorf("body %q does not name the plugin check", r.Body)
			}
		})
	}
}
