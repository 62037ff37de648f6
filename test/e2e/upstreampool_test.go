package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// nginx_config.http.upstream sets the keepalive pool of upstreams without keepalive_pool;
// an upstream's own keepalive_pool still wins.
func TestUpstreamPoolDefaultsFromConfig(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), "nginx_config:\n  http:\n    upstream:\n      keepalive_requests: 2\n"), "")
	plain := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	own := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	putAll(t, n, plain, [][2]string{
		{"/routes/plain", routeJSON(plain, "/plain", "")},
		{"/routes/own", fmt.Sprintf(`{"uri":"/own","upstream":{"nodes":{"%s":1},"type":"roundrobin","keepalive_pool":{"size":8,"requests":100,"idle_timeout":60}}}`, own.addr())},
	})
	waitFor(t, n.proxyURL("/own"), func(st int, _ string) bool { return st == 200 })
	plainBefore, ownBefore := plain.conns.Load(), own.conns.Load()
	for i := 0; i < 6; i++ {
		for _, path := range []string{"/plain", "/own"} {
			if r := do(t, "GET", n.proxyURL(path), "", ""); r.Status != 200 {
				t.Fatalf("GET %s: %d", path, r.Status)
			}
		}
	}
	// keepalive_requests 2: a connection carries two requests, then a new one is dialled
	if got := plain.conns.Load() - plainBefore; got < 3 || got > 4 {
		t.Errorf("6 requests without keepalive_pool opened %d connections, want 3 (4 if the probes' one was mid-way)", got)
	}
	if got := own.conns.Load() - ownBefore; got > 1 {
		t.Errorf("6 requests with keepalive_pool.requests 100 opened %d connections, want at most 1", got)
	}
}
