package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promAttr is config.yaml's plugin_attr.prometheus with the export server on port and extra
// YAML lines indented under prometheus:.
func promAttr(port int, extra string) string {
	return fmt.Sprintf("plugin_attr:\n  prometheus:\n    export_addr:\n      ip: 127.0.0.1\n      port: %d\n%s", port, extra)
}

// scrapeMetrics GETs url and parses the text exposition format.
func scrapeMetrics(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return mfs
}

// promSeries returns the metrics of family name whose labels include want.
func promSeries(mfs map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

func promOne(t testing.TB, mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	s := promSeries(mfs, name, want)
	if len(s) != 1 {
		var all []string
		if mf := mfs[name]; mf != nil {
			for _, m := range mf.Metric {
				all = append(all, fmt.Sprint(m.Label))
			}
		}
		sort.Strings(all)
		t.Fatalf("%s%v: %d series, want 1; all:\n%s", name, want, len(s), strings.Join(all, "\n"))
	}
	return s[0]
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return "<absent>"
}

// TestPrometheusExport: known traffic through the real binary shows up on the export server
// with APISIX's names, labels and buckets; node-level gauges are there; a deleted route's
// series go away; the export server answers only its URI.
func TestPrometheusExport(t *testing.T) {
	p := newPorts(t)
	exportPort := freePort(t)
	n := startNode(t, p, p.configYAML(keyConfig(), promAttr(exportPort, "")), "")
	export := fmt.Sprintf("http://127.0.0.1:%d", exportPort)
	metricsURL := export + "/apisix/prometheus/metrics"
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
		}
		fmt.Fprint(w, "origin-body")
	})
	up := fmt.Sprintf(`"upstream":{"nodes":{"%s":1},"type":"roundrobin"}`, origin.addr())

	put(t, n, "/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"jack-key"}}}`)
	put(t, n, "/services/s1", `{"name":"svc-one",`+up+`}`)
	put(t, n, "/routes/r1", `{"uris":["/ok","/fail"],"service_id":"s1","plugins":{"prometheus":{}}}`)
	put(t, n, "/routes/r2", `{"uri":"/auth","plugins":{"key-auth":{},"prometheus":{}},`+up+`}`)
	put(t, n, "/routes/r3", `{"uri":"/named","name":"orders","service_id":"s1","plugins":{"prometheus":{"prefer_name":true}}}`)
	put(t, n, "/routes/ready", `{"uri":"/ready",`+up+`}`)
	waitFor(t, n.proxyURL("/ready"), bodyIs("origin-body"))

	get := func(path, apikey string, want int) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.proxyURL(path), nil)
		if apikey != "" {
			req.Header.Set("apikey", apikey)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for range 3 {
		get("/ok", "", 200)
	}
	get("/fail", "", 500)
	get("/auth", "", 401)
	get("/auth", "", 401)
	get("/auth", "jack-key", 200)
	get("/named", "", 200)

	// The log phase runs after the response is written: poll until the last request counted.
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs = scrapeMetrics(t, metricsURL)
		if len(promSeries(mfs, "apisix_http_status", map[string]string{"route": "orders"})) == 1 &&
			len(promSeries(mfs, "apisix_http_status", map[string]string{"consumer": "jack"})) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traffic not counted within 10s: %v", mfs["apisix_http_status"])
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("http_status", func(t *testing.T) {
		m := promOne(t, mfs, "apisix_http_status", map[string]string{"code": "200", "route": "r1"})
		want := map[string]string{"code": "200", "route": "r1", "service": "s1", "consumer": "",
			"node": "127.0.0.1", "request_type": "", "request_llm_model": "", "llm_model": "",
			"response_source": "upstream"}
		for k, v := range want {
			if got := labelOf(m, k); got != v {
				t.Errorf("label %s = %q, want %q", k, got, v)
			}
		}
		if len(m.Label) != 11 {
			t.Errorf("http_status has %d labels, want 11: %v", len(m.Label), m.Label)
		}
		if v := m.GetCounter().GetValue(); v != 3 {
			t.Errorf("200 on r1 = %v, want 3", v)
		}
		if v := promOne(t, mfs, "apisix_http_status", map[string]string{"code": "500", "route": "r1"}).GetCounter().GetValue(); v != 1 {
			t.Errorf("500 on r1 = %v", v)
		}
		denied := promOne(t, mfs, "apisix_http_status", map[string]string{"code": "401", "route": "r2"})
		if denied.GetCounter().GetValue() != 2 || labelOf(denied, "node") != "" || labelOf(denied, "response_source") != "apisix" {
			t.Errorf("401 on r2: %v = %v", denied.Label, denied.GetCounter().GetValue())
		}
		jack := promOne(t, mfs, "apisix_http_status", map[string]string{"code": "200", "route": "r2"})
		if labelOf(jack, "consumer") != "jack" || jack.GetCounter().GetValue() != 1 {
			t.Errorf("jack on r2: %v = %v", jack.Label, jack.GetCounter().GetValue())
		}
		named := promOne(t, mfs, "apisix_http_status", map[string]string{"route": "orders"})
		if labelOf(named, "service") != "svc-one" {
			t.Errorf("prefer_name service label %q", labelOf(named, "service"))
		}
		if len(promSeries(mfs, "apisix_http_status", map[string]string{"route": "ready"})) != 0 {
			t.Error("a route without prometheus was counted")
		}
	})

	t.Run("matched_uri and matched_host", func(t *testing.T) {
		m := promOne(t, mfs, "apisix_http_status", map[string]string{"code": "200", "route": "r1"})
		if labelOf(m, "matched_uri") == "" {
			t.Skip("the runtime does not resolve $matched_uri yet (shared change requested)")
		}
		if got := labelOf(m, "matched_uri"); got != "/ok" {
			t.Errorf("matched_uri %q, want /ok", got)
		}
		if got := labelOf(m, "matched_host"); got != "" {
			t.Errorf("matched_host %q, want empty (route has no host)", got)
		}
	})

	t.Run("http_latency", func(t *testing.T) {
		mf := mfs["apisix_http_latency"]
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("type %v", mf.GetType())
		}
		for _, typ := range []string{"request", "upstream", "apisix"} {
			h := promOne(t, mfs, "apisix_http_latency", map[string]string{"type": typ, "route": "r1"}).GetHistogram()
			if h.GetSampleCount() != 4 {
				t.Errorf("%s latency count %d, want 4", typ, h.GetSampleCount())
			}
			var bounds []string
			for _, b := range h.Bucket {
				bounds = append(bounds, fmt.Sprint(b.GetUpperBound()))
			}
			if got := strings.Join(bounds, " "); got != "1 2 5 10 20 50 100 200 500 1000 2000 5000 10000 30000 60000 +Inf" {
				t.Errorf("buckets %s", got)
			}
		}
		// Refused by key-auth: never proxied, so no upstream latency.
		if s := promSeries(mfs, "apisix_http_latency", map[string]string{"type": "upstream", "route": "r2", "consumer": ""}); len(s) != 0 {
			t.Errorf("upstream latency for refused requests: %v", s)
		}
		if h := promOne(t, mfs, "apisix_http_latency", map[string]string{"type": "request", "route": "r2", "consumer": ""}).GetHistogram(); h.GetSampleCount() != 2 {
			t.Errorf("refused request latency count %d", h.GetSampleCount())
		}
		m := promOne(t, mfs, "apisix_http_latency", map[string]string{"type": "request", "route": "r1"})
		if len(m.Label) != 8 {
			t.Errorf("http_latency labels %v", m.Label)
		}
	})

	t.Run("bandwidth", func(t *testing.T) {
		in := promOne(t, mfs, "apisix_bandwidth", map[string]string{"type": "ingress", "route": "r1"}).GetCounter().GetValue()
		eg := promOne(t, mfs, "apisix_bandwidth", map[string]string{"type": "egress", "route": "r1"}).GetCounter().GetValue()
		// Four requests of at least "GET /ok HTTP/1.1\r\nHost: ...\r\n\r\n"; four responses
		// carrying the 11-byte body plus a status line and headers.
		if in < 4*30 || eg < 4*(11+40) {
			t.Errorf("bandwidth ingress %v egress %v", in, eg)
		}
	})

	t.Run("node gauges", func(t *testing.T) {
		host, _ := os.Hostname()
		info := promOne(t, mfs, "apisix_node_info", map[string]string{"hostname": host})
		if labelOf(info, "version") == "" || info.GetGauge().GetValue() != 1 {
			t.Errorf("node_info %v", info)
		}
		if v := promOne(t, mfs, "apisix_etcd_reachable", nil).GetGauge().GetValue(); v != 1 {
			t.Errorf("etcd_reachable %v", v)
		}
		routes := promOne(t, mfs, "apisix_etcd_modify_indexes", map[string]string{"key": "routes"}).GetGauge().GetValue()
		top := promOne(t, mfs, "apisix_etcd_modify_indexes", map[string]string{"key": "max_modify_index"}).GetGauge().GetValue()
		if routes <= 0 || top < routes {
			t.Errorf("modify indexes routes %v max %v", routes, top)
		}
		for _, state := range []string{"active", "accepted", "handled", "reading", "writing", "waiting"} {
			promOne(t, mfs, "apisix_nginx_http_current_connections", map[string]string{"state": state})
		}
		if v := promOne(t, mfs, "apisix_nginx_http_current_connections", map[string]string{"state": "accepted"}).GetGauge().GetValue(); v < 1 {
			t.Errorf("accepted %v", v)
		}
		if v := promOne(t, mfs, "apisix_http_requests_total", nil).GetGauge().GetValue(); v < 8 {
			t.Errorf("http_requests_total %v, want >= 8", v)
		}
		if mfs["go_goroutines"] == nil || mfs["process_resident_memory_bytes"] == nil {
			t.Error("go/process collectors missing")
		}
	})

	t.Run("export server answers only its uri", func(t *testing.T) {
		r := do(t, "POST", metricsURL, "", "")
		if r.Status != 404 {
			t.Errorf("POST metrics: %d", r.Status)
		}
		if r = do(t, "GET", export+"/other", "", ""); r.Status != 404 {
			t.Errorf("GET /other: %d", r.Status)
		}
		r = do(t, "GET", export+"/apisix/nginx_status", "", "")
		if r.Status != 200 || !strings.HasPrefix(r.Body, "Active connections: ") || !strings.Contains(r.Body, "\nserver accepts handled requests\n") {
			t.Errorf("nginx_status: %d %q", r.Status, r.Body)
		}
	})

	t.Run("a deleted route's series go away", func(t *testing.T) {
		if r := do(t, "DELETE", n.adminURL("/routes/r1"), configuredKey, ""); r.Status != 200 {
			t.Fatalf("DELETE r1: %d %s", r.Status, r.Body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mfs := scrapeMetrics(t, metricsURL)
			left := 0
			for _, name := range []string{"apisix_http_status", "apisix_http_latency", "apisix_bandwidth"} {
				left += len(promSeries(mfs, name, map[string]string{"route": "r1"}))
			}
			if left == 0 {
				if len(promSeries(mfs, "apisix_http_status", map[string]string{"route": "r2"})) == 0 {
					t.Error("series of route r2 went away with r1")
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d series of deleted route r1 still exported after 10s", left)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestPrometheusExpire: with metrics.http_status.expire a series not updated for that long is
// deleted (a global rule's copy is never closed, so only expire bounds its series), and comes
// back with the next request.
func TestPrometheusExpire(t *testing.T) {
	p := newPorts(t)
	exportPort := freePort(t)
	attr := promAttr(exportPort, "    metrics:\n      http_status:\n        expire: 1\n      bandwidth:\n        extra_labels:\n          - tenant: $http_x_tenant\n")
	n := startNode(t, p, p.configYAML(keyConfig(), attr), "")
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/apisix/prometheus/metrics", exportPort)
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	put(t, n, "/global_rules/1", `{"plugins":{"prometheus":{}}}`)
	put(t, n, "/routes/e", fmt.Sprintf(`{"uri":"/e","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	waitFor(t, n.proxyURL("/e"), bodyIs("ok"))
	req, _ := http.NewRequest("GET", n.proxyURL("/e"), nil)
	req.Header.Set("X-Tenant", "acme")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The tenant extra label shows the request was counted; then, with no traffic, the
	// http_status series expires while bandwidth (no expire) stays.
	deadline := time.Now().Add(15 * time.Second)
	sawStatus := false
	for {
		mfs := scrapeMetrics(t, metricsURL)
		bw := promSeries(mfs, "apisix_bandwidth", map[string]string{"route": "e", "tenant": "acme", "type": "ingress"})
		st := promSeries(mfs, "apisix_http_status", map[string]string{"route": "e"})
		sawStatus = sawStatus || len(st) > 0
		if len(bw) == 1 && len(st) == 0 && sawStatus {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: bandwidth %d series, http_status %d series (seen: %v)", len(bw), len(st), sawStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, n.proxyURL("/e"), bodyIs("ok"))
	deadline = time.Now().Add(10 * time.Second)
	for len(promSeries(scrapeMetrics(t, metricsURL), "apisix_http_status", map[string]string{"route": "e"})) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("http_status series did not come back with traffic")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPublicAPIServesMetrics: with the export server off, public-api on a route serves the
// metrics on the proxy port (at the route's own uri or at conf.uri); other methods and URIs
// are 404, and nothing listens on the export address.
func TestPublicAPIServesMetrics(t *testing.T) {
	p := newPorts(t)
	exportPort := freePort(t)
	n := startNode(t, p, p.configYAML(keyConfig(), promAttr(exportPort, "    enable_export_server: false\n")), "")
	put(t, n, "/routes/m", `{"uri":"/apisix/prometheus/metrics","plugins":{"public-api":{}}}`)
	put(t, n, "/routes/alias", `{"uri":"/internal/metrics","plugins":{"public-api":{"uri":"/apisix/prometheus/metrics"}}}`)
	put(t, n, "/routes/none", `{"uri":"/nothing","plugins":{"public-api":{}}}`)
	put(t, n, "/routes/protected", `{"uri":"/protected/metrics","plugins":{"key-auth":{},"public-api":{"uri":"/apisix/prometheus/metrics"}}}`)
	waitFor(t, n.proxyURL("/apisix/prometheus/metrics"), func(st int, _ string) bool { return st == 200 })

	mfs := scrapeMetrics(t, n.proxyURL("/apisix/prometheus/metrics"))
	if mfs["apisix_node_info"] == nil || mfs["apisix_nginx_http_current_connections"] == nil {
		t.Errorf("metrics through public-api lack node gauges: %d families", len(mfs))
	}
	if mfs = scrapeMetrics(t, n.proxyURL("/internal/metrics")); mfs["apisix_node_info"] == nil {
		t.Error("public-api conf.uri did not dispatch to the metrics")
	}
	if r := do(t, "POST", n.proxyURL("/apisix/prometheus/metrics"), "", ""); r.Status != 404 {
		t.Errorf("POST: %d %q", r.Status, r.Body)
	}
	if r := do(t, "GET", n.proxyURL("/nothing"), "", ""); r.Status != 404 || !strings.Contains(r.Body, "404 Not Found") {
		t.Errorf("no API: %d %q", r.Status, r.Body)
	}
	if r := do(t, "GET", n.proxyURL("/protected/metrics"), "", ""); r.Status != 401 {
		t.Errorf("key-auth before public-api: %d %q", r.Status, r.Body)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", exportPort), time.Second); err == nil {
		c.Close()
		t.Error("export server listening although enable_export_server is false")
	}
}

// TestPublicAPIWithExportServer: while the export server runs, APISIX offers the metrics only
// there: public-api answers 404.
func TestPublicAPIWithExportServer(t *testing.T) {
	p := newPorts(t)
	exportPort := freePort(t)
	n := startNode(t, p, p.configYAML(keyConfig(), promAttr(exportPort, "")), "")
	put(t, n, "/routes/m", `{"uri":"/apisix/prometheus/metrics","plugins":{"public-api":{}}}`)
	// nginx's page, not the router's {"error_msg":"404 Route Not Found"}.
	waitFor(t, n.proxyURL("/apisix/prometheus/metrics"), func(st int, b string) bool {
		return st == 404 && strings.Contains(b, "<title>404 Not Found</title>")
	})
	scrapeMetrics(t, fmt.Sprintf("http://127.0.0.1:%d/apisix/prometheus/metrics", exportPort))
}
