package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The plugin runtime through the real binary: plugins on routes act on traffic, a consumer
// authenticated by key-auth gets through, global rules run for unmatched requests, the route's
// copy of a plugin wins over the service's, and the control API shows the order.
func TestPluginsEndToEnd(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Origin-Saw-Key", r.Header.Get("apikey"))
		fmt.Fprint(w, "origin")
	})
	up := fmt.Sprintf(`"upstream":{"nodes":{"%s":1},"type":"roundrobin"}`, origin.addr())

	t.Run("echo on a route changes the response", func(t *testing.T) {
		put(t, n, "/routes/echo", `{"uri":"/echo","plugins":{"echo":{"before_body":"before-","headers":{"X-Echo":"1"}}},`+up+`}`)
		waitFor(t, n.proxyURL("/echo"), bodyIs("before-origin"))
		r := do(t, "GET", n.proxyURL("/echo"), "", "")
		if r.Header.Get("X-Echo") != "1" {
			t.Errorf("X-Echo missing: %v", r.Header)
		}
	})

	t.Run("key-auth authenticates a consumer", func(t *testing.T) {
		put(t, n, "/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"jack-key"}}}`)
		put(t, n, "/routes/auth", `{"uri":"/auth","plugins":{"key-auth":{}},`+up+`}`)
		waitFor(t, n.proxyURL("/auth"), func(st int, b string) bool { return st == 401 })
		r := do(t, "GET", n.proxyURL("/auth"), "", "")
		if r.Status != 401 || !strings.Contains(r.Body, "Missing API key") {
			t.Errorf("no key: %d %q", r.Status, r.Body)
		}
		req, _ := http.NewRequest("GET", n.proxyURL("/auth"), nil)
		req.Header.Set("apikey", "jack-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// hide_credentials defaults to false: the key is forwarded
		if resp.StatusCode != 200 || resp.Header.Get("X-Origin-Saw-Key") != "jack-key" {
			t.Errorf("with key: %d, origin saw %q", resp.StatusCode, resp.Header.Get("X-Origin-Saw-Key"))
		}
		req.Header.Set("apikey", "wrong")
		if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
			t.Errorf("wrong key: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
	})

	t.Run("the route's copy wins over the service's", func(t *testing.T) {
		put(t, n, "/services/s1", `{"plugins":{"echo":{"before_body":"service-"}},`+up+`}`)
		put(t, n, "/routes/svc", `{"uri":"/svc","service_id":"s1","plugins":{"echo":{"before_body":"route-"}}}`)
		put(t, n, "/routes/svconly", `{"uri":"/svconly","service_id":"s1"}`)
		waitFor(t, n.proxyURL("/svc"), bodyIs("route-origin"))
		waitFor(t, n.proxyURL("/svconly"), bodyIs("service-origin"))

		control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
		r := do(t, "GET", control+"/v1/routes/svc/plugins", "", "")
		var view struct {
			Plugins []struct {
				Name, Source, Parent string
			}
		}
		if err := json.Unmarshal([]byte(r.Body), &view); err != nil || r.Status != 200 {
			t.Fatalf("/v1/routes/svc/plugins: %d %s", r.Status, r.Body)
		}
		if len(view.Plugins) != 1 || view.Plugins[0].Source != "route" || view.Plugins[0].Parent != "/apisix/routes/svc" {
			t.Errorf("debug view: %s", r.Body)
		}
	})

	t.Run("a global rule runs for unmatched requests", func(t *testing.T) {
		put(t, n, "/global_rules/1", `{"plugins":{"echo":{"after_body":"+global","headers":{"X-Global":"1"}}}}`)
		want := `{"error_msg":"404 Route Not Found"}` + "\n+global"
		waitFor(t, n.proxyURL("/no/such/route"), func(st int, b string) bool { return st == 404 && b == want })
		// and first on matched ones (global echo, then the route's)
		waitFor(t, n.proxyURL("/echo"), bodyIs("before-origin+global"))
		r := do(t, "GET", n.proxyURL("/no/such/route"), "", "")
		if r.Header.Get("X-Global") != "1" {
			t.Errorf("X-Global missing on 404: %v", r.Header)
		}
	})
}
