package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestControlShowsWhyRoutesFail: a route the node cannot serve as written is visible in the
// control API with the reason, and the route still answers (fails closed) instead of falling
// through to another route.
func TestControlShowsWhyRoutesFail(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	origin := newOrigin(t, nil)
	put(t, n, "/routes/ok", fmt.Sprintf(`{"uri":"/ok","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	put(t, n, "/routes/guarded", fmt.Sprintf(`{"uri":"/guarded","plugins":{"grpc-web":{}},"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	waitFor(t, n.proxyURL("/guarded"), func(st int, b string) bool { return st == 503 && strings.Contains(b, "grpc-web") })

	control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
	r := do(t, "GET", control+"/v1/errors", "", "")
	var probs []struct {
		Key    string `json:"key"`
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.Body), &probs); err != nil || r.Status != 200 {
		t.Fatalf("/v1/errors: %d %s", r.Status, r.Body)
	}
	if len(probs) != 1 || probs[0].Key != "/apisix/routes/guarded" || probs[0].Status != 503 || !strings.Contains(probs[0].Error, "grpc-web") {
		t.Errorf("/v1/errors = %+v", probs)
	}

	r = do(t, "GET", control+"/v1/routes", "", "")
	if r.Status != 200 || !strings.Contains(r.Body, `"key":"/apisix/routes/ok"`) || !strings.Contains(r.Body, `"key":"/apisix/routes/guarded"`) {
		t.Errorf("/v1/routes: %d %s", r.Status, r.Body)
	}
	if r = do(t, "GET", control+"/v1/route/ok", "", ""); r.Status != 200 || !strings.Contains(r.Body, `"uri":"/ok"`) {
		t.Errorf("/v1/route/ok: %d %s", r.Status, r.Body)
	}
	if r = do(t, "GET", control+"/v1/route/nope", "", ""); r.Status != 404 {
		t.Errorf("/v1/route/nope: %d %s", r.Status, r.Body)
	}
}
