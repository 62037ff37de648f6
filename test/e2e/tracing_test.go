package e2e

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// tracingOTLPReceiver is an OTLP/HTTP collector decoding the protobuf wire format, as the
// OpenTelemetry Collector's otlphttp receiver does.
type tracingOTLPReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []map[string]string
	bad   []string
}

func newTracingOTLPReceiver(t *testing.T) *tracingOTLPReceiver {
	rc := &tracingOTLPReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" ||
			proto.Unmarshal(b, &req) != nil {
			rc.mu.Lock()
			rc.bad = append(rc.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
			rc.mu.Unlock()
			w.WriteHeader(400)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			ra := tracingAttrs(rs.Resource.GetAttributes())
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					rc.spans = append(rc.spans, s)
					rc.res = append(rc.res, ra)
				}
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *tracingOTLPReceiver) snapshot() ([]*tracepb.Span, []map[string]string, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...), append([]map[string]string(nil), rc.res...), rc.bad
}

// waitSpan waits up to 10 s for a span whose url.path is path.
func (rc *tracingOTLPReceiver) waitSpan(t *testing.T, path string) (*tracepb.Span, map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans, res, bad := rc.snapshot()
		if len(bad) > 0 {
			t.Fatalf("malformed exports: %v", bad)
		}
		for i, s := range spans {
			if tracingAttrs(s.Attributes)["url.path"] == path {
				return s, res[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span for %s within 10s (got %d spans)", path, len(spans))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tracingAttrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = fmt.Sprintf("int:%d", v.IntValue)
		default:
			m[kv.Key] = fmt.Sprintf("%T", v)
		}
	}
	return m
}

// tracingOrigin records the trace headers each request reached it with, by path.
type tracingOrigin struct {
	*originServer
	mu   sync.Mutex
	seen map[string]http.Header
}

func newTracingOrigin(t *testing.T) *tracingOrigin {
	o := &tracingOrigin{seen: map[string]http.Header{}}
	o.originServer = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen[r.URL.Path] = r.Header.Clone()
		o.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/fail") {
			w.WriteHeader(503)
		}
		fmt.Fprint(w, "origin")
	})
	return o
}

func (o *tracingOrigin) header(path string) http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[path]
}

func tracingGet(t *testing.T, url string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "tracing-e2e")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

const tracingPlugins = "plugins:\n  - opentelemetry\n  - zipkin\n  - key-auth\n"

// TestOpenTelemetryEndToEnd: spans reach an OTLP/HTTP collector in protobuf with APISIX's
// name, kind and attributes; a client traceparent makes the gateway span its child; the
// upstream sees a traceparent whose parent is the gateway span; always_off sends nothing.
func TestOpenTelemetryEndToEnd(t *testing.T) {
	rc := newTracingOTLPReceiver(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), tracingPlugins), "")
	o := newTracingOrigin(t)
	collectorAddr := strings.TrimPrefix(rc.URL, "http://")
	put(t, n, "/plugin_metadata/opentelemetry", `{"collector":{"address":"`+collectorAddr+`"},`+
		`"resource":{"service.name":"edge-gw","deployment":"e2e"},"batch_span_processor":{"inactive_timeout":0.1}}`)
	putAll(t, n, o.originServer, [][2]string{
		{"/services/svc", `{"name":"shop"}`},
		{"/routes/otel", `{"uri":"/otel/*","name":"traced","service_id":"svc","plugins":{"opentelemetry":` +
			`{"sampler":{"name":"always_on"},"additional_attributes":["arg_tenant"],"additional_header_prefix_attributes":["x-tenant*"]}},` +
			`"upstream":` + upstreamOf(o.originServer) + `}`},
		{"/routes/off", routeJSON(o.originServer, "/off/*", `{"opentelemetry":{"sampler":{"name":"always_off"}}}`)},
		{"/routes/auth", routeJSON(o.originServer, "/auth/*", `{"opentelemetry":{"sampler":{"name":"always_on"}},"key-auth":{}}`)},
	})

	t.Run("a client traceparent makes the gateway span its child", func(t *testing.T) {
		const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		r := tracingGet(t, n.proxyURL("/otel/child?tenant=blue"), map[string]string{
			"traceparent": "00-" + clientTrace + "-" + clientSpan + "-01", "tracestate": "vendor=1", "X-Tenant-Id": "acme"})
		if r.Status != 200 || r.Body != "origin" {
			t.Fatalf("proxy: %d %q", r.Status, r.Body)
		}
		span, res := rc.waitSpan(t, "/otel/child")
		if got := hex.EncodeToString(span.TraceId); got != clientTrace {
			t.Errorf("trace id %s, want the client's", got)
		}
		if got := hex.EncodeToString(span.ParentSpanId); got != clientSpan {
			t.Errorf("parent %s, want the client's span %s", got, clientSpan)
		}
		if span.Kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("kind %v", span.Kind)
		}
		a := tracingAttrs(span.Attributes)
		// APISIX names the span "<METHOD> <matched uri>" and sets http.route when the
		// runtime exposes the matched uri; "<METHOD>" without it.
		if route, ok := a["http.route"]; ok {
			if route != "/otel/*" || span.Name != "GET /otel/*" {
				t.Errorf("span %q http.route %q", span.Name, route)
			}
		} else if span.Name != "GET" {
			t.Errorf("span name %q", span.Name)
		}
		want := map[string]string{
			"net.host.name": "127.0.0.1", "http.method": "GET", "http.scheme": "http",
			"http.target": "/otel/child?tenant=blue", "http.user_agent": "tracing-e2e",
			"http.request.method": "GET", "url.scheme": "http", "url.path": "/otel/child",
			"user_agent.original": "tracing-e2e", "apisix.route_id": "otel", "apisix.route_name": "traced",
			"apisix.service_id": "svc", "apisix.service_name": "shop",
			"apisix.response_source": "upstream", "http.status_code": "int:200", "http.response.status_code": "int:200",
			"arg_tenant": "blue", "x-tenant-id": "acme",
		}
		for k, v := range want {
			if a[k] != v {
				t.Errorf("attribute %s = %q, want %q", k, a[k], v)
			}
		}
		if res["service.name"] != "edge-gw" || res["deployment"] != "e2e" || res["hostname"] == "" {
			t.Errorf("resource %v", res)
		}
		up := o.header("/otel/child").Get("traceparent")
		parts := strings.Split(up, "-")
		if len(parts) != 4 || parts[1] != clientTrace || parts[2] != hex.EncodeToString(span.SpanId) || parts[3] != "01" {
			t.Errorf("upstream traceparent %q, want a child of gateway span %x", up, span.SpanId)
		}
		if ts := o.header("/otel/child").Get("tracestate"); ts != "vendor=1" {
			t.Errorf("upstream tracestate %q", ts)
		}
	})

	t.Run("a new trace without a client context; 5xx is an error", func(t *testing.T) {
		r := tracingGet(t, n.proxyURL("/otel/fail"), nil)
		if r.Status != 503 {
			t.Fatalf("proxy: %d", r.Status)
		}
		span, _ := rc.waitSpan(t, "/otel/fail")
		if len(span.ParentSpanId) != 0 {
			t.Errorf("root span has parent %x", span.ParentSpanId)
		}
		if span.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || span.Status.GetMessage() != "upstream error: 503" {
			t.Errorf("status %v", span.Status)
		}
		up := o.header("/otel/fail").Get("traceparent")
		if want := "00-" + hex.EncodeToString(span.TraceId) + "-" + hex.EncodeToString(span.SpanId) + "-01"; up != want {
			t.Errorf("upstream traceparent %q, want %q", up, want)
		}
	})

	t.Run("a response from a plugin is traced with source apisix", func(t *testing.T) {
		r := tracingGet(t, n.proxyURL("/auth/x"), nil)
		if r.Status != 401 {
			t.Fatalf("proxy: %d", r.Status)
		}
		span, _ := rc.waitSpan(t, "/auth/x")
		a := tracingAttrs(span.Attributes)
		if a["apisix.response_source"] != "apisix" || a["http.status_code"] != "int:401" {
			t.Errorf("attributes %v", a)
		}
	})

	t.Run("always_off sends nothing but still propagates", func(t *testing.T) {
		const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		r := tracingGet(t, n.proxyURL("/off/x"), map[string]string{"traceparent": parent})
		if r.Status != 200 {
			t.Fatalf("proxy: %d", r.Status)
		}
		up := o.header("/off/x").Get("traceparent")
		if !strings.HasPrefix(up, "00-0af7651916cd43dd8448eb211c80319c-") || !strings.HasSuffix(up, "-00") || up == parent {
			t.Errorf("upstream traceparent %q", up)
		}
		// A later sampled request's span arriving first proves the unsampled one was never queued.
		tracingGet(t, n.proxyURL("/otel/after-off"), nil)
		rc.waitSpan(t, "/otel/after-off")
		spans, _, _ := rc.snapshot()
		for _, s := range spans {
			if tracingAttrs(s.Attributes)["url.path"] == "/off/x" {
				t.Fatalf("always_off exported %q", s.Name)
			}
		}
	})

	t.Run("a metadata change moves spans to the new collector", func(t *testing.T) {
		rc2 := newTracingOTLPReceiver(t)
		put(t, n, "/plugin_metadata/opentelemetry", `{"collector":{"address":"`+strings.TrimPrefix(rc2.URL, "http://")+`"},`+
			`"batch_span_processor":{"inactive_timeout":0.1}}`)
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; ; i++ {
			path := fmt.Sprintf("/otel/moved-%d", i)
			tracingGet(t, n.proxyURL(path), nil)
			time.Sleep(200 * time.Millisecond)
			spans, res, _ := rc2.snapshot()
			if len(spans) > 0 {
				if res[0]["service.name"] != "APISIX" {
					t.Errorf("resource after the change %v", res[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no span reached the new collector within 10s")
			}
		}
	})
}

// TestOpenTelemetryPluginAttr: with no plugin_metadata, plugin_attr.opentelemetry in
// config.yaml says where spans go.
func TestOpenTelemetryPluginAttr(t *testing.T) {
	rc := newTracingOTLPReceiver(t)
	p := newPorts(t)
	attr := fmt.Sprintf("plugin_attr:\n  opentelemetry:\n    trace_id_source: x-request-id\n    resource:\n      service.name: from-config\n"+
		"    collector:\n      address: %s\n    batch_span_processor:\n      inactive_timeout: 0.1\n", strings.TrimPrefix(rc.URL, "http://"))
	n := startNode(t, p, p.configYAML(keyConfig(), tracingPlugins+attr), "")
	o := newTracingOrigin(t)
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/otel", routeJSON(o.originServer, "/attr/*", `{"opentelemetry":{"sampler":{"name":"always_on"}}}`)},
	})
	const reqID = "5bd66ef5095369c7b0d1f8f4bd33716a"
	tracingGet(t, n.proxyURL("/attr/x"), map[string]string{"X-Request-Id": reqID})
	span, res := rc.waitSpan(t, "/attr/x")
	if res["service.name"] != "from-config" || hex.EncodeToString(span.TraceId) != reqID {
		t.Fatalf("resource %v trace %x", res, span.TraceId)
	}
}

// TestOpenTelemetryDeadCollector: a collector that accepts connections and never answers
// does not hold requests up: the export queue is bounded and drops. Reports the latency
// next to a run with no tracing.
func TestOpenTelemetryDeadCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
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
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), tracingPlugins), "")
	o := newTracingOrigin(t)
	put(t, n, "/plugin_metadata/opentelemetry", `{"collector":{"address":"`+ln.Addr().String()+`","request_timeout":1},`+
		`"batch_span_processor":{"max_queue_size":64,"max_export_batch_size":16,"inactive_timeout":0.05}}`)
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/dead", routeJSON(o.originServer, "/dead/*", `{"opentelemetry":{"sampler":{"name":"always_on"}}}`)},
		{"/routes/plain", routeJSON(o.originServer, "/plain/*", "")},
	})
	tracingCompare(t, n, "/plain", "/dead")
}

// tracingCompare sends interleaved blocks of sequential requests to each path and logs the
// median µs per request of each: the machine is shared, so only same-moment figures compare.
func tracingCompare(t *testing.T, n *node, paths ...string) {
	t.Helper()
	const rounds, block = 7, 100
	per := map[string][]float64{}
	for round := range rounds {
		for _, path := range paths {
			start := time.Now()
			for i := range block {
				r := tracingGet(t, n.proxyURL(fmt.Sprintf("%s/%d-%d", path, round, i)), nil)
				if r.Status != 200 {
					t.Fatalf("%s: %d", path, r.Status)
				}
			}
			if round > 0 { // the first round warms connections
				per[path] = append(per[path], float64(time.Since(start).Microseconds())/block)
			}
		}
	}
	var out []string
	for _, path := range paths {
		v := per[path]
		sort.Float64s(v)
		out = append(out, fmt.Sprintf("%s %.0f µs", path, v[len(v)/2]))
	}
	t.Logf("median per sequential request (%d blocks of %d): %s", rounds-1, block, strings.Join(out, ", "))
}

// tracingZipkinReceiver decodes Zipkin v2 JSON reports.
type tracingZipkinReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []map[string]any
	bad   []string
}

func newTracingZipkinReceiver(t *testing.T) *tracingZipkinReceiver {
	rc := &tracingZipkinReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var spans []map[string]any
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if r.Method != "POST" || r.URL.Path != "/api/v2/spans" || r.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(b, &spans) != nil {
			rc.bad = append(rc.bad, r.Method+" "+r.URL.Path+" "+string(b))
			w.WriteHeader(400)
			return
		}
		rc.spans = append(rc.spans, spans...)
		w.WriteHeader(202)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// waitTrace waits for the spans of trace (request + n children) — APISIX's reporter sends
// them once no span came for 5 s.
func (rc *tracingZipkinReceiver) waitTrace(t *testing.T, trace string, n int) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rc.mu.Lock()
		got := map[string]map[string]any{}
		for _, s := range rc.spans {
			if s["traceId"] == trace {
				got[s["name"].(string)] = s
			}
		}
		bad := rc.bad
		rc.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("malformed reports: %v", bad)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: %d spans within 15s, want %d", trace, len(got), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestZipkinEndToEnd: B3 context from the client reaches the upstream as the proxy span's
// child, and apisix.request with its apisix.proxy and apisix.response_span children reach a
// Zipkin collector in v2 JSON.
func TestZipkinEndToEnd(t *testing.T) {
	rc := newTracingZipkinReceiver(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), tracingPlugins), "")
	o := newTracingOrigin(t)
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/zipkin", routeJSON(o.originServer, "/zipkin/*",
			`{"zipkin":{"endpoint":"`+rc.URL+`/api/v2/spans","sample_ratio":1,"service_name":"edge"}}`)},
	})

	const trace, client = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312"
	r := tracingGet(t, n.proxyURL("/zipkin/b3?x=1"), map[string]string{
		"X-B3-TraceId": trace, "X-B3-SpanId": client, "X-B3-Sampled": "1"})
	if r.Status != 200 || r.Body != "origin" {
		t.Fatalf("proxy: %d %q", r.Status, r.Body)
	}
	spans := rc.waitTrace(t, trace, 3)
	req, proxy, resp := spans["apisix.request"], spans["apisix.proxy"], spans["apisix.response_span"]
	if req == nil || proxy == nil || resp == nil {
		t.Fatalf("spans %v", spans)
	}
	if req["parentId"] != client || req["kind"] != "SERVER" {
		t.Errorf("request span %v", req)
	}
	for _, s := range []map[string]any{proxy, resp} {
		if s["parentId"] != req["id"] {
			t.Errorf("%s parent %v, want %v", s["name"], s["parentId"], req["id"])
		}
	}
	tags, _ := req["tags"].(map[string]any)
	if tags["component"] != "apisix" || tags["http.method"] != "GET" || tags["http.url"] != "/zipkin/b3?x=1" ||
		tags["http.status_code"] != "200" {
		t.Errorf("tags %v", tags)
	}
	local, _ := req["localEndpoint"].(map[string]any)
	if local["serviceName"] != "edge" || local["ipv4"] != "127.0.0.1" || local["port"] != float64(p.Proxy) {
		t.Errorf("localEndpoint %v", local)
	}
	if remote, _ := req["remoteEndpoint"].(map[string]any); remote["ipv4"] != "127.0.0.1" || remote["port"] == nil {
		t.Errorf("remoteEndpoint %v", remote)
	}
	up := o.header("/zipkin/b3")
	if up.Get("X-B3-TraceId") != trace || up.Get("X-B3-ParentSpanId") != req["id"] ||
		up.Get("X-B3-SpanId") != proxy["id"] || up.Get("X-B3-Sampled") != "1" {
		t.Errorf("upstream B3 %v; request span %v proxy span %v", up, req["id"], proxy["id"])
	}

	t.Run("single b3 header", func(t *testing.T) {
		const trace2, client2 = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1"
		tracingGet(t, n.proxyURL("/zipkin/single"), map[string]string{"b3": trace2 + "-" + client2 + "-1"})
		up := o.header("/zipkin/single")
		if up.Get("b3") != "" || up.Get("X-B3-TraceId") != trace2 || up.Get("X-B3-Sampled") != "1" {
			t.Errorf("upstream headers %v", up)
		}
		spans := rc.waitTrace(t, trace2, 3)
		if spans["apisix.request"]["parentId"] != client2 {
			t.Errorf("request span %v", spans["apisix.request"])
		}
	})

	t.Run("a malformed b3 header is a 400", func(t *testing.T) {
		r := tracingGet(t, n.proxyURL("/zipkin/bad"), map[string]string{"b3": "nodash"})
		if r.Status != 400 {
			t.Errorf("status %d", r.Status)
		}
	})

	t.Run("not sampled: context propagated, nothing reported", func(t *testing.T) {
		const trace3 = "0000000000000abc0000000000000def"
		tracingGet(t, n.proxyURL("/zipkin/off"), map[string]string{"X-B3-TraceId": trace3, "X-B3-SpanId": client, "X-B3-Sampled": "0"})
		up := o.header("/zipkin/off")
		if up.Get("X-B3-TraceId") != trace3 || up.Get("X-B3-Sampled") != "0" || up.Get("X-B3-ParentSpanId") != client {
			t.Errorf("upstream headers %v", up)
		}
	})
}

// TestZipkinDeadCollector: a collector that refuses connections does not hold requests up;
// logs latency next to a live collector and no tracing.
func TestZipkinDeadCollector(t *testing.T) {
	rc := newTracingZipkinReceiver(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), tracingPlugins), "")
	o := newTracingOrigin(t)
	dead := freePort(t)
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/zipkin", routeJSON(o.originServer, "/zdead/*",
			fmt.Sprintf(`{"zipkin":{"endpoint":"http://127.0.0.1:%d/api/v2/spans","sample_ratio":1}}`, dead))},
		{"/routes/zlive", routeJSON(o.originServer, "/zlive/*",
			`{"zipkin":{"endpoint":"`+rc.URL+`/api/v2/spans","sample_ratio":1}}`)},
		{"/routes/plain", routeJSON(o.originServer, "/plain/*", "")},
	})
	tracingCompare(t, n, "/plain", "/zlive", "/zdead")
}
