package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The control API's configuration views and actions, and the status API.
func TestControlViewsAndStatusAPI(t *testing.T) {
	p := newPorts(t)
	statusPort := freePort(t)
	cfg := strings.Replace(p.configYAML(keyConfig(), ""), "apisix:\n",
		fmt.Sprintf("apisix:\n  status:\n    ip: 127.0.0.1\n    port: %d\n", statusPort), 1)
	n := startNode(t, p, cfg, "")
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	put(t, n, "/services/s1", fmt.Sprintf(`{"name":"svc-one","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	put(t, n, "/plugin_metadata/http-logger", `{"log_format":{"host":"$host"}}`)
	put(t, n, "/routes/r1", `{"uri":"/r1","service_id":"s1"}`)
	waitFor(t, n.proxyURL("/r1"), func(st int, b string) bool { return st == 200 })

	control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
	checks := []struct {
		method, path string
		status       int
		contains     []string
	}{
		{"GET", "/v1/services", 200, []string{`"key":"/apisix/services/s1"`, `"name":"svc-one"`}},
		{"GET", "/v1/service/s1", 200, []string{`"key":"/apisix/services/s1"`}},
		{"GET", "/v1/service/nope", 404, []string{"service[nope] not found"}},
		{"GET", "/v1/plugin_metadatas", 200, []string{`"id":"http-logger"`, `"log_format"`}},
		{"GET", "/v1/plugin_metadata/http-logger", 200, []string{`"id":"http-logger"`, `"$host"`}},
		{"GET", "/v1/plugin_metadata/cors", 404, []string{"plugin metadata[cors] not found"}},
		{"PUT", "/v1/plugins/reload", 200, []string{"done"}},
		{"POST", "/v1/gc", 200, nil},
	}
	for _, c := range checks {
		r := do(t, c.method, control+c.path, "", "")
		if r.Status != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.Status, r.Body, c.status)
			continue
		}
		for _, s := range c.contains {
			if !strings.Contains(r.Body, s) {
				t.Errorf("%s %s: %s lacks %s", c.method, c.path, r.Body, s)
			}
		}
	}

	status := fmt.Sprintf("http://127.0.0.1:%d", statusPort)
	for _, path := range []string{"/status", "/status/ready"} {
		if r := do(t, "GET", status+path, "", ""); r.Status != 200 || strings.TrimSpace(r.Body) != `{"status":"ok"}` {
			t.Errorf("%s: %d %q", path, r.Status, r.Body)
		}
	}
}

// apisix.enable_pprof turns Go's pprof endpoints on, on the control API only; off by default.
func TestPprofSwitch(t *testing.T) {
	for _, on := range []bool{false, true} {
		p := newPorts(t)
		cfg := p.configYAML(keyConfig(), "")
		if on {
			cfg = strings.Replace(cfg, "apisix:\n", "apisix:\n  enable_pprof: true\n", 1)
		}
		n := startNode(t, p, cfg, "")
		control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
		want := map[bool]int{false: 404, true: 200}[on]
		if r := do(t, "GET", control+"/debug/pprof/", "", ""); r.Status != want {
			t.Errorf("enable_pprof %v: control /debug/pprof/ answered %d, want %d", on, r.Status, want)
		}
		if r := do(t, "GET", n.proxyURL("/debug/pprof/"), "", ""); r.Status != 404 {
			t.Errorf("enable_pprof %v: the proxy port answered pprof with %d", on, r.Status)
		}
		if strings.Contains(n.Logs(), "enable_pprof: unknown key") {
			t.Errorf("enable_pprof warned as unknown:\n%s", n.Logs())
		}
		n.stop()
	}
}
