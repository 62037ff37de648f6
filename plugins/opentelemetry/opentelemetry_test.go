package opentelemetry

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// fakeNode is the part of a gateway node Definition.Start reads.
type fakeNode struct{ attr json.RawMessage }

func (n fakeNode) Config(path string) json.RawMessage {
	if path == "plugin_attr.opentelemetry" {
		return n.attr
	}
	return nil
}
func (fakeNode) Logger() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (fakeNode) Hostname() string              { return "gw-1" }
func (fakeNode) Version() string               { return "test" }
func (fakeNode) ID() string                    { return "node-1" }
func (fakeNode) Status() plugin.NodeStatus     { return plugin.NodeStatus{} }
func (fakeNode) API(string) (plugin.API, bool) { return plugin.API{}, false }
func (n fakeNode) start(t *testing.T) *tracers {
	t.Helper()
	sh, err := startTracers(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return sh.(*tracers)
}

// collector is an OTLP/HTTP receiver decoding the protobuf wire format.
type collector struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []*coltracepb.ExportTraceServiceRequest
	headers []http.Header
	got     chan struct{}
}

func newCollector(t *testing.T) *collector {
	c := &collector{got: make(chan struct{}, 100)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "bad export "+r.URL.Path+" "+r.Header.Get("Content-Type"), 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, &req)
		c.headers = append(c.headers, r.Header.Clone())
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(out)
		c.got <- struct{}{}
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) addr() string { return strings.TrimPrefix(c.URL, "http://") }

// spans returns every span received so far with its resource attributes.
func (c *collector) spans() (out []*tracepb.Span, res []map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.reqs {
		for _, rs := range r.ResourceSpans {
			ra := attrMap(rs.Resource.GetAttributes())
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, s)
					res = append(res, ra)
				}
			}
		}
	}
	return out, res
}

func (c *collector) waitSpans(t *testing.T, n int) ([]*tracepb.Span, []map[string]string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s, r := c.spans(); len(s) >= n {
			return s, r
		}
		select {
		case <-c.got:
		case <-deadline:
			s, _ := c.spans()
			t.Fatalf("collector got %d spans, want %d", len(s), n)
		}
	}
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = "int:" + itoa(v.IntValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = "double"
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = "bool"
		}
	}
	return m
}

func itoa(i int64) string { b, _ := json.Marshal(i); return string(b) }

func metadata(c *collector, extra string) json.RawMessage {
	return json.RawMessage(`{"collector":{"address":"` + c.addr() + `","request_headers":{"x-tenant":"t1"}},` +
		`"batch_span_processor":{"inactive_timeout":0.05}` + extra + `}`)
}

func newInst(t *testing.T, tr *tracers, conf string, meta json.RawMessage) *OpenTelemetry {
	t.Helper()
	inst, err := newOpenTelemetry(json.RawMessage(conf), plugin.Env{Node: fakeNode{}, Shared: tr, Metadata: meta,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	o := inst.(*OpenTelemetry)
	t.Cleanup(o.Close)
	return o
}

func request() *plugintest.Ctx {
	c := plugintest.New()
	c.MethodV, c.Path, c.HostV = "POST", "/orders/7", "api.example.com"
	c.Query.Set("tenant", "blue")
	c.ReqHeader.Set("User-Agent", "curl/8")
	c.Route, c.Service = "r1", "s1"
	c.VarsV = map[string]string{"matched_uri": "/orders/*"}
	return c
}

func TestOpenTelemetrySpanFromClientTraceparent(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{}.start(t)
	o := newInst(t, tr, `{"sampler":{"name":"always_on"},"additional_attributes":["arg_tenant","route_id","missing_var"],
		"additional_header_prefix_attributes":["X-Tenant","x-b-*"]}`, metadata(col, `,"resource":{"service.name":"gw","env":"prod","shard":3}`))

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	c := request()
	c.ReqHeader.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	c.ReqHeader.Set("tracestate", "vendor=x")
	c.ReqHeader.Set("X-Tenant", "acme")
	c.ReqHeader.Add("X-B-One", "1")
	c.ReqHeader.Add("X-B-One", "2")
	o.Rewrite(c)
	up := c.ReqHeader.Get("traceparent")
	parts := strings.Split(up, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[1] != clientTrace || parts[2] == clientSpan || parts[3] != "01" {
		t.Fatalf("upstream traceparent %q: want a sampled child of the client's trace", up)
	}
	if ts := c.ReqHeader.Get("tracestate"); ts != "vendor=x" {
		t.Fatalf("upstream tracestate %q", ts)
	}
	c.Info.UpStatus, c.StatusV = 201, 201
	o.Log(c)

	spans, res := col.waitSpans(t, 1)
	s := spans[0]
	if got := hex.EncodeToString(s.TraceId); got != clientTrace {
		t.Errorf("trace id %s", got)
	}
	if got := hex.EncodeToString(s.ParentSpanId); got != clientSpan {
		t.Errorf("parent span id %s, want the client's %s", got, clientSpan)
	}
	if got := hex.EncodeToString(s.SpanId); got != parts[2] {
		t.Errorf("span id %s, but the upstream was told %s", got, parts[2])
	}
	if s.Name != "POST /orders/*" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span %q kind %v", s.Name, s.Kind)
	}
	if s.TraceState != "vendor=x" {
		t.Errorf("trace state %q", s.TraceState)
	}
	if s.StartTimeUnixNano != uint64(c.Info.Start.UnixNano()) || s.EndTimeUnixNano < s.StartTimeUnixNano {
		t.Errorf("start %d end %d, request started %d", s.StartTimeUnixNano, s.EndTimeUnixNano, c.Info.Start.UnixNano())
	}
	want := map[string]string{
		"net.host.name": "api.example.com", "http.method": "POST", "http.scheme": "http",
		"http.target": "/orders/7?tenant=blue", "http.user_agent": "curl/8", "http.request.method": "POST",
		"url.scheme": "http", "url.path": "/orders/7", "user_agent.original": "curl/8",
		"apisix.route_id": "r1", "apisix.route_name": "", "http.route": "/orders/*",
		"apisix.service_id": "s1", "apisix.service_name": "",
		"apisix.response_source": "upstream", "http.status_code": "int:201", "http.response.status_code": "int:201",
		"arg_tenant": "blue", "route_id": "r1", "X-Tenant": "acme", "x-b-one": "1, 2",
	}
	got := attrMap(s.Attributes)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("attributes %v, want exactly %v", got, want)
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		t.Errorf("status %v", s.Status)
	}
	if res[0]["service.name"] != "gw" || res[0]["hostname"] != "gw-1" || res[0]["env"] != "prod" || res[0]["shard"] != "double" {
		t.Errorf("resource %v", res[0])
	}
	col.mu.Lock()
	if h := col.headers[0].Get("X-Tenant"); h != "t1" {
		t.Errorf("collector request header x-tenant %q", h)
	}
	col.mu.Unlock()
}

func TestOpenTelemetryErrorStatusAndNewTrace(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{}.start(t)
	o := newInst(t, tr, `{"sampler":{"name":"always_on"}}`, metadata(col, ""))
	c := request()
	c.Route, c.Service, c.VarsV = "", "", nil
	o.Rewrite(c)
	tp := c.ReqHeader.Get("traceparent")
	if !strings.HasPrefix(tp, "00-") || !strings.HasSuffix(tp, "-01") {
		t.Fatalf("traceparent %q", tp)
	}
	c.Info.UpStatus, c.StatusV = 0, 502
	o.Log(c)
	spans, res := col.waitSpans(t, 1)
	s := spans[0]
	if len(s.ParentSpanId) != 0 || s.Name != "POST" {
		t.Errorf("root span %q parent %x", s.Name, s.ParentSpanId)
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || s.Status.GetMessage() != "apisix error: 502" {
		t.Errorf("status %v", s.Status)
	}
	a := attrMap(s.Attributes)
	if a["apisix.response_source"] != "apisix" || a["http.status_code"] != "int:502" {
		t.Errorf("attributes %v", a)
	}
	if _, ok := a["apisix.route_id"]; ok {
		t.Errorf("route attributes without a route: %v", a)
	}
	if res[0]["service.name"] != "APISIX" || res[0]["hostname"] != "gw-1" {
		t.Errorf("default resource %v", res[0])
	}
}

func TestOpenTelemetrySamplers(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{}.start(t)
	meta := metadata(col, "")
	const sampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	const unsampledParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	cases := []struct {
		name, conf, parent string
		sampled            bool
	}{
		{"default is always_off", `{}`, "", false},
		{"always_off ignores a sampled parent", `{"sampler":{"name":"always_off"}}`, sampledParent, false},
		{"always_on", `{"sampler":{"name":"always_on"}}`, "", true},
		{"ratio 1", `{"sampler":{"name":"trace_id_ratio","options":{"fraction":1}}}`, "", true},
		{"ratio 0", `{"sampler":{"name":"trace_id_ratio","options":{"fraction":0}}}`, "", false},
		{"parent_base sampled parent", `{"sampler":{"name":"parent_base"}}`, sampledParent, true},
		{"parent_base unsampled parent", `{"sampler":{"name":"parent_base","options":{"root":{"name":"always_on"}}}}`, unsampledParent, false},
		{"parent_base root always_on", `{"sampler":{"name":"parent_base","options":{"root":{"name":"always_on"}}}}`, "", true},
		{"parent_base root default off", `{"sampler":{"name":"parent_base"}}`, "", false},
	}
	want := 0
	for _, tc := range cases {
		o := newInst(t, tr, tc.conf, meta)
		c := request()
		c.Path = "/" + strings.ReplaceAll(tc.name, " ", "_")
		if tc.parent != "" {
			c.ReqHeader.Set("traceparent", tc.parent)
		}
		o.Rewrite(c)
		flags := c.ReqHeader.Get("traceparent")
		if wantFlags := map[bool]string{true: "-01", false: "-00"}[tc.sampled]; !strings.HasSuffix(flags, wantFlags) {
			t.Errorf("%s: upstream traceparent %q", tc.name, flags)
		}
		o.Log(c)
		if tc.sampled {
			want++
		}
	}
	spans, _ := col.waitSpans(t, want)
	time.Sleep(200 * time.Millisecond) // four inactive_timeouts: an unsampled span would have arrived
	spans, _ = col.spans()
	var names []string
	for _, s := range spans {
		names = append(names, attrMap(s.Attributes)["url.path"])
	}
	if len(spans) != want {
		t.Fatalf("exported %v, want %d spans", names, want)
	}
	for _, n := range names {
		name := strings.ReplaceAll(strings.TrimPrefix(n, "/"), "_", " ")
		for _, tc := range cases {
			if tc.name == name && !tc.sampled {
				t.Errorf("unsampled %q exported", name)
			}
		}
	}
}

func TestOpenTelemetryTraceIDFromRequestID(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{}.start(t)
	o := newInst(t, tr, `{"sampler":{"name":"always_on"}}`, metadata(col, `,"trace_id_source":"x-request-id"`))
	c := request()
	c.ReqHeader.Set("X-Request-Id", "0AF7651916CD43DD8448EB211C80319C")
	o.Rewrite(c)
	if tp := c.ReqHeader.Get("traceparent"); !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") {
		t.Fatalf("traceparent %q: want the request id as trace id", tp)
	}
	for _, bad := range []string{"00000000000000000000000000000000", "not-hex-not-hex-not-hex-not-hex-", "abc"} {
		c := request()
		c.ReqHeader.Set("X-Request-Id", bad)
		o.Rewrite(c)
		if tp := c.ReqHeader.Get("traceparent"); len(tp) != 55 || strings.Contains(tp, "-00000000000000000000000000000000-") {
			t.Errorf("request id %q: traceparent %q, want a random trace", bad, tp)
		}
	}
}

// TestOpenTelemetrySharedProviders: instances with the same tracer configuration share one
// provider; the last Close shuts it down, flushing what it queued.
func TestOpenTelemetrySharedProviders(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{}.start(t)
	meta := json.RawMessage(`{"collector":{"address":"` + col.addr() + `"},"batch_span_processor":{"batch_timeout":60,"inactive_timeout":60}}`)
	env := plugin.Env{Node: fakeNode{}, Shared: tr, Metadata: meta}
	a, err := newOpenTelemetry(json.RawMessage(`{"sampler":{"name":"always_on"}}`), env)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newOpenTelemetry(json.RawMessage(`{}`), env)
	if err != nil {
		t.Fatal(err)
	}
	oa, ob := a.(*OpenTelemetry), b.(*OpenTelemetry)
	if oa.prov != ob.prov || oa.prov.refs != 2 {
		t.Fatalf("providers %p %p refs %d", oa.prov, ob.prov, oa.prov.refs)
	}
	c := request()
	oa.Rewrite(c)
	oa.Log(c)
	oa.Close()
	if len(tr.byConf) != 1 {
		t.Fatalf("provider gone while an instance uses it")
	}
	ob.Close()
	col.waitSpans(t, 1) // flushed by the shutdown, not by the 60 s timers
	if len(tr.byConf) != 0 {
		t.Fatalf("provider kept after its last instance closed")
	}
}

// TestOpenTelemetryPluginAttr: without metadata the node's plugin_attr decides where spans go.
func TestOpenTelemetryPluginAttr(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{attr: metadata(col, `,"resource":{"service.name":"from-attr"}`)}.start(t)
	o := newInst(t, tr, `{"sampler":{"name":"always_on"}}`, nil)
	c := request()
	o.Rewrite(c)
	o.Log(c)
	_, res := col.waitSpans(t, 1)
	if res[0]["service.name"] != "from-attr" {
		t.Fatalf("resource %v", res[0])
	}
}

// TestOpenTelemetryDeadCollector: a collector that accepts connections and never answers,
// and one that refuses them, must not hold up the request phases; the bounded queue drops.
func TestOpenTelemetryDeadCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	tr := fakeNode{}.start(t)
	meta := json.RawMessage(`{"collector":{"address":"` + ln.Addr().String() + `","request_timeout":1},` +
		`"batch_span_processor":{"max_queue_size":64,"max_export_batch_size":8,"inactive_timeout":0.01}}`)
	o := newInst(t, tr, `{"sampler":{"name":"always_on"}}`, meta)
	const n = 5000
	start := time.Now()
	for range n {
		c := request()
		o.Rewrite(c)
		o.Log(c)
	}
	t.Logf("%d traced requests against a hung collector: %v (%.1f µs/request)", n, time.Since(start),
		float64(time.Since(start).Microseconds())/n)
}

func TestOpenTelemetryInertWithoutNode(t *testing.T) {
	inst := plugintest.MustNew(t, "opentelemetry", `{"sampler":{"name":"always_on"}}`)
	c := request()
	inst.(plugin.Rewriter).Rewrite(c)
	inst.(plugin.Logger).Log(c)
	if tp := c.ReqHeader.Get("traceparent"); tp != "" {
		t.Fatalf("traceparent %q from an instance that is not on a node", tp)
	}
}

func TestCollectorURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "http://127.0.0.1:4318/v1/traces",
		"otel:4318":                    "http://otel:4318/v1/traces",
		"https://otel.example.com":     "https://otel.example.com/v1/traces",
		"http://otel:4318/custom/path": "http://otel:4318/custom/path",
	} {
		c := &tracerConf{}
		if in != "" {
			c.Collector = &struct {
				Address        string         `json:"address"`
				RequestTimeout *float64       `json:"request_timeout"`
				RequestHeaders map[string]any `json:"request_headers"`
			}{Address: in}
		}
		got, err := collectorURL(c)
		if err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
}

// BenchmarkOpenTelemetryRequest is the per-request cost of a sampled span (rewrite + log)
// with a live collector, and with one that accepts connections and never answers.
func BenchmarkOpenTelemetryRequest(b *testing.B) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer live.Close()
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer hung.Close() // the kernel completes handshakes into the backlog; nothing reads
	for name, addr := range map[string]string{"live": strings.TrimPrefix(live.URL, "http://"), "hung": hung.Addr().String()} {
		b.Run(name, func(b *testing.B) {
			sh, _ := startTracers(fakeNode{})
			defer sh.Close()
			meta := json.RawMessage(`{"collector":{"address":"` + addr + `","request_timeout":1},"batch_span_processor":{"max_queue_size":256}}`)
			inst, err := newOpenTelemetry(json.RawMessage(`{"sampler":{"name":"always_on"}}`),
				plugin.Env{Node: fakeNode{}, Shared: sh, Metadata: meta})
			if err != nil {
				b.Fatal(err)
			}
			o := inst.(*OpenTelemetry)
			defer o.Close()
			c := request()
			b.ReportAllocs()
			for b.Loop() {
				c.ReqHeader.Del("traceparent")
				o.Rewrite(c)
				o.Log(c)
			}
		})
	}
}

// set_ngx_var: the span's context becomes variables (loggers, the access log).
func TestOpenTelemetrySetNgxVar(t *testing.T) {
	col := newCollector(t)
	tr := fakeNode{}.start(t)
	o := newInst(t, tr, `{"sampler":{"name":"always_on"}}`, metadata(col, `,"set_ngx_var":true`))
	c := request()
	o.Rewrite(c)
	parts := strings.Split(c.ReqHeader.Get("traceparent"), "-")
	if len(parts) != 4 {
		t.Fatalf("upstream traceparent %q", c.ReqHeader.Get("traceparent"))
	}
	want := map[string]string{
		"opentelemetry_context_traceparent": c.ReqHeader.Get("traceparent"),
		"opentelemetry_trace_id":            parts[1],
		"opentelemetry_span_id":             parts[2],
	}
	for name, v := range want {
		if got := c.VarsV[name]; got != v {
			t.Errorf("$%s = %q, want %q", name, got, v)
		}
	}
	c.Info.UpStatus, c.StatusV = 200, 200
	o.Log(c)
	col.waitSpans(t, 1)
}
