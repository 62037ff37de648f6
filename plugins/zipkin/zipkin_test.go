package zipkin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// zipkinSpan is a Zipkin v2 span as a collector decodes it.
type zipkinSpan struct {
	TraceID        string            `json:"traceId"`
	Name           string            `json:"name"`
	ParentID       string            `json:"parentId"`
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	Timestamp      int64             `json:"timestamp"`
	Duration       *int64            `json:"duration"`
	LocalEndpoint  map[string]any    `json:"localEndpoint"`
	RemoteEndpoint map[string]any    `json:"remoteEndpoint"`
	Tags           map[string]string `json:"tags"`
}

type collector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []zipkinSpan
	posts int
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var spans []zipkinSpan
		if r.Method != "POST" || r.URL.Path != "/api/v2/spans" || r.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(b, &spans) != nil {
			t.Errorf("bad report %s %s %s: %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"), b)
			w.WriteHeader(400)
			return
		}
		c.mu.Lock()
		c.spans = append(c.spans, spans...)
		c.posts++
		c.mu.Unlock()
		w.WriteHeader(202)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) byName() map[string]zipkinSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]zipkinSpan{}
	for _, s := range c.spans {
		m[s.Name] = s
	}
	return m
}

func newInst(t *testing.T, conf string) *Zipkin {
	t.Helper()
	return plugintest.MustNew(t, "zipkin", conf).(*Zipkin)
}

func request() *plugintest.Ctx {
	c := plugintest.New()
	c.Path = "/get"
	c.Query.Set("a", "1")
	c.RemotePort = 40001
	c.VarsV = map[string]string{}
	return c
}

// run drives a request through every phase as the gateway does.
func run(z *Zipkin, c *plugintest.Ctx, upstreamStatus int) {
	z.Rewrite(c)
	if !c.Exited() {
		z.Access(c)
		c.Info.UpStatus, c.StatusV = upstreamStatus, upstreamStatus
	}
	z.HeaderFilter(c)
	z.Log(c)
}

func TestZipkinB3HeadersSampledV2(t *testing.T) {
	col := newCollector(t)
	z := newInst(t, `{"endpoint":"`+col.URL+`/api/v2/spans","sample_ratio":0.00001,"server_addr":"10.1.2.3"}`)
	c := request()
	const trace, client = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312"
	c.ReqHeader.Set("X-B3-TraceId", trace)
	c.ReqHeader.Set("X-B3-SpanId", client)
	c.ReqHeader.Set("X-B3-Sampled", "1")
	c.ReqHeader.Set("uberctx-User", "a b")
	run(z, c, 200)
	up := c.ReqHeader
	if up.Get("x-b3-traceid") != trace || up.Get("x-b3-sampled") != "1" || up.Get("uberctx-user") != "a%20b" {
		t.Fatalf("upstream headers %v", up)
	}
	z.Close()
	got := col.byName()
	req, proxy, resp := got["apisix.request"], got["apisix.proxy"], got["apisix.response_span"]
	if len(got) != 3 || req.ID == "" || proxy.ID == "" || resp.ID == "" {
		t.Fatalf("spans %+v", got)
	}
	if req.TraceID != trace || req.ParentID != client || req.Kind != "SERVER" {
		t.Errorf("request span %+v", req)
	}
	if up.Get("x-b3-parentspanid") != req.ID || up.Get("x-b3-spanid") != proxy.ID {
		t.Errorf("upstream told parent %s span %s; request span %s proxy span %s",
			up.Get("x-b3-parentspanid"), up.Get("x-b3-spanid"), req.ID, proxy.ID)
	}
	for _, s := range []zipkinSpan{proxy, resp} {
		if s.TraceID != trace || s.ParentID != req.ID || s.Kind != "" || s.RemoteEndpoint != nil || len(s.Tags) != 0 {
			t.Errorf("child span %+v", s)
		}
	}
	wantTags := map[string]string{"component": "apisix", "http.method": "GET", "http.url": "/get?a=1",
		"http.status_code": "200", "apisix.response_source": "upstream"}
	if len(req.Tags) != len(wantTags) {
		t.Errorf("tags %v, want %v", req.Tags, wantTags)
	}
	for k, v := range wantTags {
		if req.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, req.Tags[k], v)
		}
	}
	if req.LocalEndpoint["serviceName"] != "APISIX" || req.LocalEndpoint["ipv4"] != "10.1.2.3" {
		t.Errorf("localEndpoint %v", req.LocalEndpoint)
	}
	if req.RemoteEndpoint["ipv4"] != "127.0.0.1" || req.RemoteEndpoint["port"] != float64(40001) {
		t.Errorf("remoteEndpoint %v", req.RemoteEndpoint)
	}
	if req.Timestamp != c.Info.Start.UnixMicro() || req.Duration == nil || proxy.Timestamp != req.Timestamp {
		t.Errorf("timestamps request %d proxy %d, request started %d", req.Timestamp, proxy.Timestamp, c.Info.Start.UnixMicro())
	}
}

func TestZipkinSingleB3Header(t *testing.T) {
	col := newCollector(t)
	z := newInst(t, `{"endpoint":"`+col.URL+`/api/v2/spans","sample_ratio":1,"service_name":"edge"}`)
	const trace, client, parent = "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", "05e3ac9a4f6e3b90"
	c := request()
	c.ReqHeader.Set("b3", trace+"-"+client+"-d-"+parent)
	run(z, c, 200)
	up := c.ReqHeader
	if up.Get("b3") != "" || up.Get("x-b3-traceid") != trace || up.Get("x-b3-flags") != "1" || up.Get("x-b3-sampled") != "1" {
		t.Fatalf("upstream headers %v", up)
	}
	z.Close()
	req := col.byName()["apisix.request"]
	if req.ParentID != client || req.LocalEndpoint["serviceName"] != "edge" {
		t.Fatalf("request span %+v", req)
	}
}

func TestZipkinB3Errors(t *testing.T) {
	z := newInst(t, `{"endpoint":"http://127.0.0.1:9/api/v2/spans","sample_ratio":1}`)
	defer z.Close()
	for _, b3 := range []string{"", "abc", "463ac35c9f6413ad48485a3953bb6124"} {
		c := request()
		c.ReqHeader.Set("b3", b3)
		z.Rewrite(c)
		if c.ExitStatus != 400 || c.ExitBody != nil {
			t.Errorf("b3 %q: %d %q, want 400 with no body", b3, c.ExitStatus, c.ExitBody)
		}
	}
}

func TestZipkinNotSampled(t *testing.T) {
	col := newCollector(t)
	z := newInst(t, `{"endpoint":"`+col.URL+`/api/v2/spans","sample_ratio":1}`)
	const trace, client = "463ac35c9f6413ad", "a2fb4a1d1a96d312"
	for _, hdr := range []map[string]string{
		{"x-b3-traceid": trace, "x-b3-spanid": client, "x-b3-sampled": "0"},
		{"b3": trace + "-" + client + "-0"},
	} {
		c := request()
		for k, v := range hdr {
			c.ReqHeader.Set(k, v)
		}
		run(z, c, 200)
		up := c.ReqHeader
		if up.Get("x-b3-traceid") != trace || up.Get("x-b3-sampled") != "0" || up.Get("x-b3-parentspanid") != client ||
			len(up.Get("x-b3-spanid")) != 16 || up.Get("x-b3-spanid") == client {
			t.Errorf("%v: upstream headers %v", hdr, up)
		}
	}
	c := request()
	c.ReqHeader.Set("b3", "0")
	run(z, c, 200)
	if c.ReqHeader.Get("x-b3-sampled") != "0" || len(c.ReqHeader.Get("x-b3-traceid")) != 32 || c.ReqHeader.Get("x-b3-parentspanid") != "" {
		t.Errorf("b3 0: upstream headers %v", c.ReqHeader)
	}
	z.Close()
	if n := len(col.byName()); n != 0 {
		t.Fatalf("%d unsampled spans reported", n)
	}
}

func TestZipkinInvalidIDsStartNewTrace(t *testing.T) {
	z := newInst(t, `{"endpoint":"http://127.0.0.1:9/api/v2/spans","sample_ratio":1}`)
	defer z.Close()
	for _, hdr := range []map[string]string{
		{"x-b3-traceid": "xyz", "x-b3-spanid": "a2fb4a1d1a96d312"},
		{"x-b3-traceid": "463ac35c9f6413ad", "x-b3-spanid": "a2fb"},
		{"x-b3-traceid": "463ac35c9f6413ad", "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-parentspanid": "zz"},
	} {
		c := request()
		for k, v := range hdr {
			c.ReqHeader.Set(k, v)
		}
		z.Rewrite(c)
		z.Access(c)
		if tid := c.ReqHeader.Get("x-b3-traceid"); len(tid) != 32 || tid == hdr["x-b3-traceid"] || c.ReqHeader.Get("x-b3-sampled") != "1" {
			t.Errorf("%v: upstream headers %v, want a new sampled trace", hdr, c.ReqHeader)
		}
	}
}

func TestZipkinSpanVersion1(t *testing.T) {
	col := newCollector(t)
	z := newInst(t, `{"endpoint":"`+col.URL+`/api/v2/spans","sample_ratio":1,"span_version":1}`)
	c := request()
	run(z, c, 503)
	z.Close()
	got := col.byName()
	req := got["apisix.request"]
	if len(got) != 5 || req.ParentID != "" || len(req.TraceID) != 32 || req.Tags["http.status_code"] != "503" {
		t.Fatalf("spans %+v", got)
	}
	for _, n := range []string{"apisix.rewrite", "apisix.access", "apisix.proxy"} {
		if got[n].ParentID != req.ID {
			t.Errorf("%s parent %s, want %s", n, got[n].ParentID, req.ID)
		}
	}
	if got["apisix.body_filter"].ParentID != got["apisix.proxy"].ID {
		t.Errorf("body_filter parent %s, want the proxy span", got["apisix.body_filter"].ParentID)
	}
	if c.ReqHeader.Get("x-b3-spanid") != got["apisix.proxy"].ID {
		t.Errorf("upstream span id %s", c.ReqHeader.Get("x-b3-spanid"))
	}
}

func TestZipkinExitedRequest(t *testing.T) {
	col := newCollector(t)
	z := newInst(t, `{"endpoint":"`+col.URL+`/api/v2/spans","sample_ratio":1}`)
	c := request()
	z.Rewrite(c)
	c.Exit(401, []byte("no"))
	z.HeaderFilter(c)
	z.Log(c)
	z.Close()
	req := col.byName()["apisix.request"]
	if req.Tags["http.status_code"] != "401" || req.Tags["apisix.response_source"] != "apisix" {
		t.Fatalf("request span %+v", req)
	}
}

// TestZipkinDeadCollector: a collector that never answers does not hold up requests; the
// queue is bounded.
func TestZipkinDeadCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	z := newInst(t, `{"endpoint":"http://`+ln.Addr().String()+`/api/v2/spans","sample_ratio":1}`)
	const n = 5000
	start := time.Now()
	for range n {
		run(z, request(), 200)
	}
	t.Logf("%d sampled requests against a dead collector: %v (%.1f µs/request)", n, time.Since(start),
		float64(time.Since(start).Microseconds())/n)
	if q := len(z.rep.queue); q > queueSize {
		t.Fatalf("queue %d over its bound", q)
	}
	go z.Close()
}

func TestZipkinAdminValidationCostsNothing(t *testing.T) {
	z := newInst(t, `{"endpoint":"http://127.0.0.1:9/api/v2/spans","sample_ratio":1}`)
	if z.rep.started.Load() {
		t.Fatal("reporter started before any span")
	}
	z.Close()
}

// attrNode is a plugin.Node whose config holds plugin_attr.zipkin.
type attrNode struct{ attr string }

func (n attrNode) Config(path string) json.RawMessage {
	if path == "plugin_attr.zipkin" {
		return json.RawMessage(n.attr)
	}
	return nil
}
func (attrNode) Logger() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (attrNode) Hostname() string              { return "test" }
func (attrNode) Version() string               { return "test" }
func (attrNode) ID() string                    { return "test" }
func (attrNode) Status() plugin.NodeStatus     { return plugin.NodeStatus{} }
func (attrNode) API(string) (plugin.API, bool) { return plugin.API{}, false }

// plugin_attr.zipkin.set_ngx_var: the request span's context becomes variables.
func TestZipkinSetNgxVar(t *testing.T) {
	col := newCollector(t)
	inst, err := newZipkin(json.RawMessage(`{"endpoint":"`+col.URL+`/api/v2/spans","sample_ratio":1}`),
		plugin.Env{Node: attrNode{`{"set_ngx_var":true}`}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	z := inst.(*Zipkin)
	defer z.Close()
	c := request()
	const trace, client = "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312"
	c.ReqHeader.Set("X-B3-TraceId", trace)
	c.ReqHeader.Set("X-B3-SpanId", client)
	c.ReqHeader.Set("X-B3-Sampled", "1")
	run(z, c, 200)
	sid := c.ReqHeader.Get("x-b3-parentspanid") // the request span: the proxy span's parent
	if c.VarsV["zipkin_trace_id"] != trace || c.VarsV["zipkin_span_id"] != sid || sid == "" ||
		c.VarsV["zipkin_context_traceparent"] != "00-"+trace+"-"+sid+"-01" {
		t.Errorf("variables %v (request span %s)", c.VarsV, sid)
	}
}
