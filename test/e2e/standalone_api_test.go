package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// configsReq sends a request to /apisix/admin/configs with the admin key and extra headers.
func configsReq(t *testing.T, n *node, method, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.adminURL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-KEY", configuredKey)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestStandaloneAPIDriven: role traditional with config_provider yaml keeps the configuration
// in memory, pushed whole through PUT /apisix/admin/configs (APISIX's API-driven standalone).
func TestStandaloneAPIDriven(t *testing.T) {
	o1 := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "one") })
	o2 := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "two") })
	p := newPorts(t)
	statusPort := freePort(t)
	cfg := strings.Replace(p.configYAML(keyConfig()+"  role_traditional:\n    config_provider: yaml\n", ""), "apisix:\n",
		fmt.Sprintf("apisix:\n  status:\n    ip: 127.0.0.1\n    port: %d\n", statusPort), 1)
	n := startNode(t, p, cfg, "")
	ready := fmt.Sprintf("http://127.0.0.1:%d/status/ready", statusPort)
	waitFor(t, fmt.Sprintf("http://127.0.0.1:%d/status", statusPort), func(st int, _ string) bool { return st == 200 })
	if r := do(t, "GET", ready, "", ""); r.Status != 503 {
		t.Errorf("/status/ready before any push: %d %s, want 503", r.Status, r.Body)
	}

	// before any push: every conf version is 0, no metadata headers
	st, hdr, body := configsReq(t, n, "GET", "/configs", "", nil)
	if st != 200 || !strings.Contains(body, `"routes_conf_version":0`) || hdr.Get("X-Digest") != "" {
		t.Fatalf("initial GET: %d %v %s", st, hdr, body)
	}
	// the other Admin API paths do not exist in this mode
	if r := do(t, "GET", n.adminURL("/routes"), configuredKey, ""); r.Status != 404 {
		t.Errorf("GET /routes in API-driven standalone: %d", r.Status)
	}

	push := func(digest, doc string) (int, string) {
		st, _, b := configsReq(t, n, "PUT", "/configs", doc, map[string]string{"X-Digest": digest})
		return st, b
	}
	if st, b := push("", `{}`); st != 400 || !strings.Contains(b, "missing digest header") {
		t.Errorf("PUT without X-Digest: %d %s", st, b)
	}
	if st, b := push("d0", ``); st != 400 || !strings.Contains(b, "invalid request body: empty request body") {
		t.Errorf("PUT with an empty body: %d %s", st, b)
	}
	bad := `{"routes":[{"id":"r1","uri":1,"upstream_id":"u1"}]}`
	if st, b := push("d0", bad); st != 400 || !strings.Contains(b, "invalid routes at index 0, err:") {
		t.Errorf("PUT with an invalid route: %d %s", st, b)
	}
	dup := fmt.Sprintf(`{"routes":[{"id":"r1","uri":"/a","upstream_id":"u1"},{"id":"r1","uri":"/b","upstream_id":"u1"}],"upstreams":[{"id":"u1","nodes":{"%s":1},"type":"roundrobin"}]}`, o1.addr())
	if st, b := push("d0", dup); st != 400 || !strings.Contains(b, "found duplicate id r1 in routes") {
		t.Errorf("PUT with a duplicate id: %d %s", st, b)
	}

	doc := fmt.Sprintf(`{"routes":[{"id":"r1","uri":"/a","upstream_id":"u1"}],"upstreams":[{"id":"u1","nodes":{"%s":1},"type":"roundrobin"}]}`, o1.addr())
	if st, b := push("d1", doc); st != 202 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	waitFor(t, n.proxyURL("/a"), bodyIs("one"))
	if r := do(t, "GET", ready, "", ""); r.Status != 200 {
		t.Errorf("/status/ready after a push: %d %s", r.Status, r.Body)
	}
	if st, _ := push("d1", doc); st != 204 {
		t.Errorf("PUT with the same digest: %d, want 204", st)
	}
	st, hdr, body = configsReq(t, n, "GET", "/configs", "", nil)
	var got map[string]any
	json.Unmarshal([]byte(body), &got)
	if st != 200 || hdr.Get("X-Digest") != "d1" || hdr.Get("X-Last-Modified") == "" || got["routes_conf_version"] != float64(1) {
		t.Errorf("GET after a push: %d %v %s", st, hdr, body)
	}
	if st, hdr, _ := configsReq(t, n, "HEAD", "/configs", "", nil); st != 200 || hdr.Get("X-Digest") != "d1" {
		t.Errorf("HEAD: %d %v", st, hdr)
	}

	// an older conf version is refused; an equal one keeps that kind's objects as they are
	if st, b := push("d2", `{"routes_conf_version":0,"routes":[]}`); st != 400 || !strings.Contains(b, "routes_conf_version must be greater than or equal to (1)") {
		t.Errorf("older conf version: %d %s", st, b)
	}
	up2 := fmt.Sprintf(`{"routes_conf_version":1,"upstreams":[{"id":"u1","nodes":{"%s":1},"type":"roundrobin"}]}`, o2.addr())
	if st, b := push("d3", up2); st != 202 {
		t.Fatalf("PUT keeping routes: %d %s", st, b)
	}
	waitFor(t, n.proxyURL("/a"), bodyIs("two"))

	// YAML bodies, and validation without applying
	yamlDoc := "routes:\n  - id: r2\n    uri: /b\n    upstream_id: u1\nupstreams:\n  - id: u1\n    type: roundrobin\n    nodes:\n      \"" + o1.addr() + "\": 1\n"
	st, _, b := configsReq(t, n, "POST", "/configs/validate", `{"routes":[{"id":"x","uri":1}]}`, nil)
	if st != 400 || !strings.Contains(b, "invalid routes at index 0") {
		t.Errorf("validate an invalid config: %d %s", st, b)
	}
	if st, _, b := configsReq(t, n, "PUT", "/configs", yamlDoc, map[string]string{"X-Digest": "d4", "Content-Type": "application/yaml"}); st != 202 {
		t.Fatalf("PUT YAML: %d %s", st, b)
	}
	waitFor(t, n.proxyURL("/b"), bodyIs("one"))
	deadline := time.Now().Add(5 * time.Second)
	for do(t, "GET", n.proxyURL("/a"), "", "").Status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("route r1 still served after a push without it")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
