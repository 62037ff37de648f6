package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/batch"
)

// fakeNode is a plugin.Node with a fixed config and status.
type fakeNode struct {
	attr   string // plugin_attr.prometheus JSON, "" for none
	status plugin.NodeStatus
}

func (n *fakeNode) Config(path string) json.RawMessage {
	if path == "plugin_attr.prometheus" && n.attr != "" {
		return json.RawMessage(n.attr)
	}
	return nil
}
func (n *fakeNode) Logger() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (n *fakeNode) Hostname() string              { return "gw-1" }
func (n *fakeNode) Version() string               { return "3.14.0" }
func (n *fakeNode) ID() string                    { return "node-id" }
func (n *fakeNode) Status() plugin.NodeStatus     { return n.status }
func (n *fakeNode) API(string) (plugin.API, bool) { return plugin.API{}, false }
func freeAddr(t testing.TB) (ip string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
}

// startShared runs Definition.Start on a fake node whose export server listens on a free port.
func startShared(t testing.TB, extraAttr string) (*shared, string) {
	t.Helper()
	ip, port := freeAddr(t)
	attr := fmt.Sprintf(`{"export_addr":{"ip":%q,"port":%d}%s}`, ip, port, extraAttr)
	node := &fakeNode{attr: attr, status: plugin.NodeStatus{
		EtcdReachable: true,
		ModifyIndexes: map[string]int64{"routes": 12, "max_modify_index": 15},
		Connections:   plugin.ConnStats{Active: 3, Accepted: 10, Handled: 10, Total: 42, Reading: 1, Writing: 1, Waiting: 1},
	}}
	sh, err := start(node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return sh.(*shared), fmt.Sprintf("http://%s:%d", ip, port)
}

func newInst(t testing.TB, s *shared, parent, conf, metadata string) *instance {
	t.Helper()
	env := plugin.Env{Parent: parent, Shared: s}
	if metadata != "" {
		env.Metadata = json.RawMessage(metadata)
	}
	in, err := newInstance(json.RawMessage(conf), env)
	if err != nil {
		t.Fatal(err)
	}
	return in.(*instance)
}

// proxied is a request answered by upstream 10.0.0.1:8080 after 30 ms of 50.
func proxied(route, service string, status int) *plugintest.Ctx {
	c := plugintest.New()
	c.Route, c.Service, c.StatusV = route, service, status
	c.Info = plugintest.Info{Start: time.Now().Add(-50 * time.Millisecond), UpAddr: "10.0.0.1:8080",
		UpStatus: status, UpLatency: 30 * time.Millisecond, ReqSize: 100, RespSz: 250}
	return c
}

func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/apisix/prometheus/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return parse(t, resp.Body)
}

func parse(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// series returns the metrics of family name whose labels include want, keyed by their full
// label set "k=v,...".
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) map[string]*dto.Metric {
	out := map[string]*dto.Metric{}
	mf := mfs[name]
	if mf == nil {
		return out
	}
next:
	for _, m := range mf.Metric {
		var parts []string
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		sort.Strings(parts)
		out[strings.Join(parts, ",")] = m
	}
	return out
}

func one(t testing.TB, mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	s := series(mfs, name, want)
	if len(s) != 1 {
		t.Fatalf("%s%v: %d series, want 1: %v", name, want, len(s), s)
	}
	for _, m := range s {
		return m
	}
	return nil
}

func TestRecordsStatusLatencyBandwidth(t *testing.T) {
	s, url := startShared(t, "")
	in := newInst(t, s, "/apisix/routes/1", `{}`, "")
	for range 3 {
		in.Log(proxied("1", "s1", 200))
	}
	jack := proxied("1", "s1", 200)
	jack.ConsumerV = &plugin.Consumer{Username: "jack"}
	in.Log(jack)
	exited := plugintest.New()
	exited.Route, exited.StatusV = "1", 401
	exited.Info.ReqSize, exited.Info.RespSz = 80, 120
	exited.Exit(401, nil)
	in.Log(exited)

	mfs := scrape(t, url)
	m := one(t, mfs, "apisix_http_status", map[string]string{"code": "200", "consumer": ""})
	want := map[string]string{"code": "200", "route": "1", "matched_uri": "", "matched_host": "", "service": "s1",
		"consumer": "", "node": "10.0.0.1", "request_type": "", "request_llm_model": "", "llm_model": "",
		"response_source": "upstream"}
	if len(m.Label) != len(want) {
		t.Errorf("http_status labels: %v", m.Label)
	}
	for _, l := range m.Label {
		if want[l.GetName()] != l.GetValue() {
			t.Errorf("label %s=%q, want %q", l.GetName(), l.GetValue(), want[l.GetName()])
		}
	}
	if v := m.GetCounter().GetValue(); v != 3 {
		t.Errorf("http_status 200 = %v, want 3", v)
	}
	if v := one(t, mfs, "apisix_http_status", map[string]string{"consumer": "jack"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("jack = %v", v)
	}
	ex := one(t, mfs, "apisix_http_status", map[string]string{"code": "401"})
	for _, l := range ex.Label {
		if (l.GetName() == "response_source" && l.GetValue() != "apisix") || (l.GetName() == "node" && l.GetValue() != "") {
			t.Errorf("exited request: %s=%q", l.GetName(), l.GetValue())
		}
	}

	// Histogram: buckets exactly APISIX's; request 50 ms, upstream 30 ms, apisix 20 ms.
	req := one(t, mfs, "apisix_http_latency", map[string]string{"type": "request", "consumer": "", "node": "10.0.0.1"}).GetHistogram()
	var bounds []float64
	for _, b := range req.Bucket {
		bounds = append(bounds, b.GetUpperBound())
	}
	if fmt.Sprint(bounds) != fmt.Sprint(append(defaultBuckets, math.Inf(1))) {
		t.Errorf("buckets %v, want %v", bounds, defaultBuckets)
	}
	if req.GetSampleCount() != 3 || req.GetSampleSum() < 150 || req.GetSampleSum() > 200 {
		t.Errorf("request latency: count %d sum %v", req.GetSampleCount(), req.GetSampleSum())
	}
	up := one(t, mfs, "apisix_http_latency", map[string]string{"type": "upstream", "consumer": ""}).GetHistogram()
	if up.GetSampleCount() != 3 || up.GetSampleSum() != 90 {
		t.Errorf("upstream latency: count %d sum %v", up.GetSampleCount(), up.GetSampleSum())
	}
	ap := one(t, mfs, "apisix_http_latency", map[string]string{"type": "apisix", "consumer": "", "node": "10.0.0.1"}).GetHistogram()
	if ap.GetSampleCount() != 3 || ap.GetSampleSum() < 60 {
		t.Errorf("apisix latency: count %d sum %v", ap.GetSampleCount(), ap.GetSampleSum())
	}
	// The exited request never reached an upstream: no upstream series for it.
	if s := series(mfs, "apisix_http_latency", map[string]string{"type": "upstream", "node": ""}); len(s) != 0 {
		t.Errorf("upstream latency without upstream: %v", s)
	}
	in2 := one(t, mfs, "apisix_bandwidth", map[string]string{"type": "ingress", "consumer": "", "node": "10.0.0.1"})
	eg := one(t, mfs, "apisix_bandwidth", map[string]string{"type": "egress", "consumer": "", "node": "10.0.0.1"})
	if in2.GetCounter().GetValue() != 300 || eg.GetCounter().GetValue() != 750 {
		t.Errorf("bandwidth ingress %v egress %v", in2.GetCounter().GetValue(), eg.GetCounter().GetValue())
	}
	if v := one(t, mfs, "apisix_bandwidth", map[string]string{"type": "egress", "node": ""}).GetCounter().GetValue(); v != 120 {
		t.Errorf("exited egress %v", v)
	}
}

func TestNodeGauges(t *testing.T) {
	_, url := startShared(t, "")
	mfs := scrape(t, url)
	for state, v := range map[string]float64{"active": 3, "accepted": 10, "handled": 10, "reading": 1, "writing": 1, "waiting": 1} {
		if got := one(t, mfs, "apisix_nginx_http_current_connections", map[string]string{"state": state}).GetGauge().GetValue(); got != v {
			t.Errorf("connections %s = %v, want %v", state, got, v)
		}
	}
	if got := one(t, mfs, "apisix_http_requests_total", nil).GetGauge().GetValue(); got != 42 {
		t.Errorf("http_requests_total %v", got)
	}
	if got := one(t, mfs, "apisix_etcd_reachable", nil).GetGauge().GetValue(); got != 1 {
		t.Errorf("etcd_reachable %v", got)
	}
	if got := one(t, mfs, "apisix_etcd_modify_indexes", map[string]string{"key": "routes"}).GetGauge().GetValue(); got != 12 {
		t.Errorf("modify index routes %v", got)
	}
	one(t, mfs, "apisix_node_info", map[string]string{"hostname": "gw-1", "version": "3.14.0"})
	if mfs["go_goroutines"] == nil || mfs["process_cpu_seconds_total"] == nil {
		t.Error("go and process collectors missing")
	}
	if mfs["apisix_http_status"] != nil {
		t.Error("http_status has series before any request")
	}
}

func TestExportServerRoutes(t *testing.T) {
	_, url := startShared(t, "")
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/apisix/prometheus/metrics", 404, "<title>404 Not Found</title>"},
		{"GET", "/other", 404, "<title>404 Not Found</title>"},
		{"GET", "/apisix/nginx_status", 200, "Active connections: 3 \nserver accepts handled requests\n 10 10 42 \nReading: 1 Writing: 1 Waiting: 1 \n"},
	} {
		req, _ := http.NewRequest(c.method, url+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) {
			t.Errorf("%s %s: %d %q", c.method, c.path, resp.StatusCode, b)
		}
	}
}

func TestAttrPrefixBucketsExtraLabels(t *testing.T) {
	s, url := startShared(t, `,"metric_prefix":"gw_","default_buckets":[10,100],`+
		`"metrics":{"http_status":{"extra_labels":[{"upstream_addr":"$upstream_addr"},{"hdr":"$http_x_tenant"}]}}`)
	in := newInst(t, s, "/apisix/routes/1", `{}`, "")
	c := proxied("1", "", 200)
	c.ReqHeader.Set("X-Tenant", "acme")
	in.Log(c)
	mfs := scrape(t, url)
	one(t, mfs, "gw_http_status", map[string]string{"hdr": "acme", "upstream_addr": ""})
	h := one(t, mfs, "gw_http_latency", map[string]string{"type": "request"}).GetHistogram()
	if len(h.Bucket) != 3 || h.Bucket[1].GetUpperBound() != 100 {
		t.Errorf("buckets %v", h.Bucket)
	}
	if _, ok := mfs["gw_http_latency"]; !ok || mfs["apisix_http_status"] != nil {
		t.Error("metric_prefix not applied")
	}
}

func TestPreferNameAndDisabledLabels(t *testing.T) {
	s, url := startShared(t, "")
	in := newInst(t, s, "/apisix/routes/1", `{"prefer_name":true}`,
		`{"disabled_labels":{"http_status":["node","service"],"bandwidth":["route"]}}`)
	in.Log(namedRoute{proxied("1", "s1", 200), "orders"})
	mfs := scrape(t, url)
	one(t, mfs, "apisix_http_status", map[string]string{"route": "orders", "service": "", "node": ""})
	one(t, mfs, "apisix_http_latency", map[string]string{"type": "request", "route": "orders", "service": "s1", "node": "10.0.0.1"})
	one(t, mfs, "apisix_bandwidth", map[string]string{"type": "ingress", "route": "", "service": "s1"})
}

// namedRoute answers $route_name, which plugintest.Ctx does not.
type namedRoute struct {
	*plugintest.Ctx
	name string
}

func (c namedRoute) Lookup(v *plugin.Var) ([]byte, bool) {
	if v.Kind == plugin.VarRouteName {
		return []byte(c.name), true
	}
	return c.Ctx.Lookup(v)
}

func TestCloseDeletesRouteSeries(t *testing.T) {
	s, url := startShared(t, "")
	r1 := newInst(t, s, "/apisix/routes/1", `{}`, "")
	r2 := newInst(t, s, "/apisix/routes/2", `{}`, "")
	r1.Log(proxied("1", "", 200))
	r2.Log(proxied("2", "", 200))

	// A config change: the route's next instance exists before the old one closes; the
	// counters carry on.
	r1b := newInst(t, s, "/apisix/routes/1", `{"prefer_name":false}`, "")
	r1.Close()
	r1.Log(proxied("1", "", 200)) // in flight on the old snapshot: dropped, not resurrected
	mfs := scrape(t, url)
	if v := one(t, mfs, "apisix_http_status", map[string]string{"route": "1"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("route 1 after config change = %v, want 1", v)
	}
	r1b.Log(proxied("1", "", 200))
	mfs = scrape(t, url)
	if v := one(t, mfs, "apisix_http_status", map[string]string{"route": "1"}).GetCounter().GetValue(); v != 2 {
		t.Errorf("route 1 after new instance = %v, want 2", v)
	}

	// The route is deleted: its last instance closes and every series of it goes.
	r1b.Close()
	mfs = scrape(t, url)
	for _, name := range []string{"apisix_http_status", "apisix_http_latency", "apisix_bandwidth"} {
		if s := series(mfs, name, map[string]string{"route": "1"}); len(s) != 0 {
			t.Errorf("%s of deleted route: %v", name, s)
		}
		if s := series(mfs, name, map[string]string{"route": "2"}); len(s) == 0 {
			t.Errorf("%s of route 2 gone", name)
		}
	}
	if len(s.parts[famStatus]) != 1 || len(s.orphans) != 0 {
		t.Errorf("bookkeeping: %d status parts, %d orphan parents", len(s.parts[famStatus]), len(s.orphans))
	}

	// A config change whose new instance never saw traffic, then deletion.
	r2b := newInst(t, s, "/apisix/routes/2", `{}`, "")
	r2.Close()
	r2b.Close()
	if mfs = scrape(t, url); mfs["apisix_http_status"] != nil {
		t.Errorf("series left after all routes closed: %v", mfs["apisix_http_status"])
	}
}

func TestExpire(t *testing.T) {
	s, url := startShared(t, `,"metrics":{"http_status":{"expire":60}}`)
	in := newInst(t, s, "/apisix/global_rules/1", `{}`, "")
	in.Log(proxied("1", "", 200))
	in.Log(proxied("2", "", 200))
	now := time.Now().Unix()
	// Route 2 keeps being updated; route 1 goes idle.
	s.parts[famStatus][joinKeyOf(t, s, "1")].last.Store(now - 61)
	s.sweep(now)
	mfs := scrape(t, url)
	if len(series(mfs, "apisix_http_status", map[string]string{"route": "1"})) != 0 {
		t.Error("expired http_status series still exported")
	}
	if len(series(mfs, "apisix_http_status", map[string]string{"route": "2"})) != 1 {
		t.Error("live http_status series gone")
	}
	// http_latency has no expire: its series stays.
	if len(series(mfs, "apisix_http_latency", map[string]string{"route": "1"})) == 0 {
		t.Error("latency series without expire deleted")
	}
	// Traffic again: the series comes back, counting from zero.
	in.Log(proxied("1", "", 200))
	mfs = scrape(t, url)
	if v := one(t, mfs, "apisix_http_status", map[string]string{"route": "1"}).GetCounter().GetValue(); v != 1 {
		t.Errorf("revived series = %v", v)
	}
	if v := one(t, mfs, "apisix_http_latency", map[string]string{"route": "1", "type": "request"}).GetHistogram().GetSampleCount(); v != 2 {
		t.Errorf("latency kept counting: %v", v)
	}
}

func joinKeyOf(t testing.TB, s *shared, route string) string {
	for k, p := range s.parts[famStatus] {
		if p.values[1] == route {
			return k
		}
	}
	t.Fatalf("no status part for route %s", route)
	return ""
}

func TestAPIOnlyWithoutExportServer(t *testing.T) {
	s, _ := startShared(t, "")
	if apis := s.APIs(); len(apis) != 0 {
		t.Errorf("APIs with export server on: %v", apis)
	}
	node := &fakeNode{attr: `{"enable_export_server":false}`}
	sh, err := start(node)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	apis := sh.(*shared).APIs()
	if len(apis) != 1 || apis[0].URI != "/apisix/prometheus/metrics" || fmt.Sprint(apis[0].Methods) != "[GET]" {
		t.Fatalf("APIs: %+v", apis)
	}
	c := plugintest.New()
	apis[0].Serve(c)
	if c.ExitStatus != 200 || !strings.HasPrefix(c.RespHdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("serve: %d %v", c.ExitStatus, c.RespHdr)
	}
	mfs := parse(t, strings.NewReader(string(c.ExitBody)))
	if mfs["apisix_node_info"] == nil {
		t.Errorf("no node_info in %s", c.ExitBody)
	}
}

func TestInertWithoutShared(t *testing.T) {
	in := plugintest.MustNew(t, "prometheus", `{"prefer_name":true}`)
	in.(plugin.Logger).Log(proxied("1", "", 200)) // must not panic
	in.(plugin.Closer).Close()
}

func TestNodeIP(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1:80": "10.0.0.1", "[::1]:8080": "::1", "": "", "host": "host"} {
		if got := nodeIP(in); got != want {
			t.Errorf("nodeIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkLog is the log phase of a proxied request whose series exists (the steady state).
func BenchmarkLog(b *testing.B) {
	s, _ := startShared(b, "")
	in := newInst(b, s, "/apisix/routes/1", `{}`, "")
	c := proxied("1", "s1", 200)
	c.ConsumerV = &plugin.Consumer{Username: "jack"}
	in.Log(c)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		in.Log(c)
	}
}

// BenchmarkLogParallel records from every P into one instance, as a busy route does.
func BenchmarkLogParallel(b *testing.B) {
	s, _ := startShared(b, "")
	in := newInst(b, s, "/apisix/routes/1", `{}`, "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := proxied("1", "s1", 200)
		for pb.Next() {
			in.Log(c)
		}
	})
}

func TestBatchProcessEntries(t *testing.T) {
	_, url := startShared(t, "")
	cfg := batch.Config{Name: "test logger", BatchMaxSize: 1000, InactiveTimeout: 600, BufferDuration: 600}
	p := batch.Acquire(cfg, batch.Options{Plugin: "prometheus-test", Key: "k", RouteID: "7"},
		func(context.Context, []int) error { return nil })
	defer p.Release()
	for i := range 3 {
		p.Push(i)
	}
	m := one(t, scrape(t, url), "apisix_batch_process_entries", map[string]string{"name": "test logger", "route_id": "7", "server_addr": ""})
	if v := m.GetGauge().GetValue(); v != 3 {
		t.Errorf("batch_process_entries = %v, want 3", v)
	}
}
