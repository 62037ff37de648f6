package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Upstream health checks through the real binary: an active check turns the node whose
// /status answers 500 unhealthy, traffic then goes only to the healthy one, the control API
// lists both nodes and the prometheus export shows apisix_upstream_status; once the node
// answers 200 again it takes traffic again.
func TestUpstreamActiveHealthCheck(t *testing.T) {
	p := newPorts(t)
	exportPort := freePort(t)
	n := startNode(t, p, p.configYAML(keyConfig(), promAttr(exportPort, "")), "")
	var failing atomic.Bool
	failing.Store(true)
	origin := func(name string, flaky bool) *originServer {
		return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/status" && flaky && failing.Load() {
				w.WriteHeader(500)
				return
			}
			fmt.Fprint(w, name)
		})
	}
	good, bad := origin("good", false), origin("bad", true)
	put(t, n, "/upstreams/1", fmt.Sprintf(`{"type":"roundrobin","nodes":{"%s":1,"%s":1},"checks":{"active":{"http_path":"/status",`+
		`"healthy":{"interval":1,"successes":1},"unhealthy":{"interval":1,"http_failures":1}}}}`, good.addr(), bad.addr()))
	control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
	// listed before any request, without nodes: its checker starts with the first one
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := do(t, "GET", control+"/v1/healthcheck/upstreams/1", "", "")
		if r.Status == 200 {
			if strings.TrimSpace(r.Body) != `{"name":"/apisix/upstreams/1","type":"http"}` {
				t.Fatalf("before the first request: %s", r.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream 1 never listed: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	put(t, n, "/routes/1", `{"uri":"/hc","upstream_id":"1","plugins":{"prometheus":{}}}`)
	waitFor(t, n.proxyURL("/hc"), func(st int, _ string) bool { return st == 200 }) // starts the checker

	var entry struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Nodes []struct {
			IP      string         `json:"ip"`
			Port    int            `json:"port"`
			Status  string         `json:"status"`
			Counter map[string]int `json:"counter"`
		} `json:"nodes"`
	}
	statusOf := func(addr string) string {
		for _, nd := range entry.Nodes {
			if nd.IP+":"+strconv.Itoa(nd.Port) == addr {
				return nd.Status
			}
		}
		return ""
	}
	waitHealth := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := do(t, "GET", control+"/v1/healthcheck/upstreams/1", "", "")
			if r.Status == 200 && json.Unmarshal([]byte(r.Body), &entry) == nil && statusOf(bad.addr()) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the failing node never became %s: %d %s", want, r.Status, r.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitHealth("unhealthy")
	if entry.Name != "/apisix/upstreams/1" || entry.Type != "http" || statusOf(good.addr()) != "healthy" {
		t.Fatalf("healthcheck entry: %+v", entry)
	}
	for i := 0; i < 10; i++ {
		if r := do(t, "GET", n.proxyURL("/hc"), "", ""); r.Status != 200 || r.Body != "good" {
			t.Fatalf("request %d with one node unhealthy: %d %q", i, r.Status, r.Body)
		}
	}
	all := do(t, "GET", control+"/v1/healthcheck", "", "")
	if all.Status != 200 || !strings.Contains(all.Body, `"name":"/apisix/upstreams/1"`) {
		t.Fatalf("/v1/healthcheck: %d %s", all.Status, all.Body)
	}
	// a browser gets APISIX's HTML table, the unhealthy node's row in red
	req, _ := http.NewRequest("GET", control+"/v1/healthcheck", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/html" ||
		!strings.Contains(string(page), "<h1>APISIX upstream check status</h1>") ||
		!strings.Contains(string(page), `<tr bgcolor="#FF0000">`) || !strings.Contains(string(page), "<td>"+bad.addr()+"</td>") {
		t.Fatalf("HTML view (%s):\n%s", ct, page)
	}
	for path, want := range map[string]string{
		"/v1/healthcheck/routes/1":    `404 {"error_msg":"no checker for routes[1]"}`, // upstream_id: listed as the upstream
		"/v1/healthcheck/routes/9":    `404 {"error_msg":"routes[9] not found"}`,
		"/v1/healthcheck/consumers/1": `400 {"error_msg":"invalid src type consumers"}`,
		"/v1/healthcheck/upstreams":   `404 {"error_msg":"missing src id for src type upstreams"}`,
	} {
		if r := do(t, "GET", control+path, "", ""); fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(r.Body)) != want {
			t.Errorf("%s: %d %s, want %s", path, r.Status, r.Body, want)
		}
	}

	// apisix_upstream_status: 0 for the failing node, 1 for the other
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/apisix/prometheus/metrics", exportPort)
	deadline = time.Now().Add(30 * time.Second)
	for {
		got := map[string]float64{}
		if mf := scrapeMetrics(t, metricsURL)["apisix_upstream_status"]; mf != nil {
			for _, m := range mf.Metric {
				labels := map[string]string{}
				for _, l := range m.Label {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["name"] == "/apisix/upstreams/1" {
					got[labels["ip"]+":"+labels["port"]] = m.GetGauge().GetValue()
				}
			}
		}
		if v, ok := got[bad.addr()]; ok && v == 0 && got[good.addr()] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apisix_upstream_status: %v", got)
		}
		time.Sleep(500 * time.Millisecond)
	}

	failing.Store(false)
	waitHealth("healthy")
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		seen[do(t, "GET", n.proxyURL("/hc"), "", "").Body] = true
	}
	if !seen["bad"] || !seen["good"] {
		t.Fatalf("after recovery the nodes answered %v, want both", seen)
	}
}

// Passive checks: a node answering 500 to proxied requests is taken out after
// unhealthy.http_failures of them.
func TestUpstreamPassiveHealthCheck(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	good := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "good") })
	bad := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status" {
			// in neither status list: the active probe counts for nothing. A success would
			// clear the passive failure count (the counters are shared, as in
			// lua-resty-healthcheck) and race with the requests below.
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(500)
	})
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/p","upstream":{"type":"roundrobin","retries":0,"nodes":{"%s":1,"%s":1},"checks":{`+
		`"active":{"http_path":"/status","healthy":{"interval":60,"successes":254},"unhealthy":{"interval":60}},`+
		`"passive":{"healthy":{"successes":3},"unhealthy":{"http_statuses":[500],"http_failures":2}}}}}`, good.addr(), bad.addr()))
	waitFor(t, n.proxyURL("/p"), func(st int, _ string) bool { return st == 200 || st == 500 })
	fails := 0
	for i := 0; i < 10; i++ {
		if r := do(t, "GET", n.proxyURL("/p"), "", ""); r.Status == 500 {
			fails++
		}
	}
	if fails > 2 {
		t.Fatalf("%d answers of 500 in 10 requests, want at most 2 before the node is taken out", fails)
	}
	control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
	if r := do(t, "GET", control+"/v1/healthcheck/routes/1", "", ""); r.Status != 200 || !strings.Contains(r.Body, `"status":"unhealthy"`) {
		t.Fatalf("/v1/healthcheck/routes/1: %d %s", r.Status, r.Body)
	}
}
