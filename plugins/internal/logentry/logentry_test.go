package logentry

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func decode(t *testing.T, e *Entry) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.AppendJSON(nil), &m); err != nil {
		t.Fatalf("entry is not JSON: %v: %s", err, e.AppendJSON(nil))
	}
	return m
}

// portCtx answers $server_port, which plugintest.Ctx does not know.
type portCtx struct{ *plugintest.Ctx }

func (c portCtx) Lookup(v *plugin.Var) ([]byte, bool) {
	if v.Kind == plugin.VarServerPort {
		return []byte("9080"), true
	}
	return c.Ctx.Lookup(v)
}

func request() *plugintest.Ctx {
	c := plugintest.New()
	c.MethodV = "POST"
	c.Path = "/hello"
	c.Query = url.Values{}
	c.HostV = "example.com"
	c.ReqHeader.Set("X-One", "1")
	c.ReqHeader.Add("X-Two", "a")
	c.ReqHeader.Add("X-Two", "b")
	c.ReqBody = []byte("0123456789")
	c.Route, c.Service = "r1", "s1"
	c.ConsumerV = &plugin.Consumer{Username: "jack"}
	c.RespHdr.Set("Content-Type", "text/plain")
	c.StatusV = 201
	c.Info = plugintest.Info{Start: time.Now().Add(-20 * time.Millisecond), UpAddr: "127.0.0.1:1980",
		UpStatus: 201, UpLatency: 5 * time.Millisecond, ReqSize: 123, RespSz: 456}
	return c
}

func TestDefaultEntry(t *testing.T) {
	b, err := New([]byte(`{"include_req_body":true,"max_req_body_bytes":4}`), plugin.Env{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := request()
	c.Query = url.Values{"a": {"1", "2"}, "b": {"x"}}
	b.Access(c)
	m := decode(t, b.Build(portCtx{c}))
	req := m["request"].(map[string]any)
	if req["method"] != "POST" || req["uri"] != "/hello?a=1&a=2&b=x" ||
		req["url"] != "http://example.com:9080/hello?a=1&a=2&b=x" || req["size"] != 123.0 || req["body"] != "0123" {
		t.Errorf("request %v", req)
	}
	if !reflect.DeepEqual(req["querystring"], map[string]any{"a": []any{"1", "2"}, "b": "x"}) {
		t.Errorf("querystring %v", req["querystring"])
	}
	hd := req["headers"].(map[string]any)
	if hd["x-one"] != "1" || !reflect.DeepEqual(hd["x-two"], []any{"a", "b"}) {
		t.Errorf("headers %v", hd)
	}
	resp := m["response"].(map[string]any)
	if resp["status"] != 201.0 || resp["size"] != 456.0 || resp["headers"].(map[string]any)["content-type"] != "text/plain" {
		t.Errorf("response %v", resp)
	}
	if _, ok := resp["body"]; ok {
		t.Error("response body without include_resp_body")
	}
	if m["route_id"] != "r1" || m["service_id"] != "s1" || m["client_ip"] != "127.0.0.1" ||
		m["upstream"] != "127.0.0.1:1980" || m["upstream_latency"] != 5.0 {
		t.Errorf("entry %v", m)
	}
	if !reflect.DeepEqual(m["consumer"], map[string]any{"username": "jack"}) {
		t.Errorf("consumer %v", m["consumer"])
	}
	if lat := m["latency"].(float64); lat < 20 || m["apisix_latency"].(float64) != lat-5 {
		t.Errorf("latency %v apisix_latency %v", lat, m["apisix_latency"])
	}
	if st := int64(m["start_time"].(float64)); st != c.Info.Start.UnixMilli() {
		t.Errorf("start_time %d", st)
	}
	if m["server"].(map[string]any)["version"] != "3.18.0" {
		t.Errorf("server %v", m["server"])
	}
}

func TestNoRouteAndNoUpstream(t *testing.T) {
	b, _ := New(nil, plugin.Env{}, Options{NoMatchRouteID: "no-matched"})
	c := request()
	c.Route, c.Service, c.ConsumerV = "", "", nil
	c.Info.UpLatency, c.Info.UpAddr = -1, ""
	m := decode(t, b.Build(c))
	if m["route_id"] != "no-matched" || m["service_id"] != "example.com" {
		t.Errorf("route_id %v service_id %v", m["route_id"], m["service_id"])
	}
	for _, k := range []string{"consumer", "upstream_latency", "upstream"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present: %v", k, m[k])
		}
	}
}

func TestLogFormat(t *testing.T) {
	meta := []byte(`{"log_format":{"ignored":"$host"}}`)
	b, err := New([]byte(`{"log_format":{"host":"$host","client":"$remote_addr","lit":"x","n":3,
		"nested":{"m":"$request_method","missing":"$http_nope"},"body":"$request_body",
		"lat":"$upstream_response_time","odd":"$host-$uri"}, "include_resp_body":true}`),
		plugin.Env{Metadata: meta}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := request()
	b.Access(c)
	b.BodyFilter(c, []byte("resp"), true)
	got := decode(t, b.Build(c))
	want := map[string]any{"host": "example.com", "client": "127.0.0.1", "lit": "x", "n": 3.0,
		"nested": map[string]any{"m": "POST"}, "body": "0123456789", "lat": "0.005",
		"route_id": "r1", "service_id": "s1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entry\n %v\nwant\n %v", got, want)
	}
}

func TestMetadataFormatAndExtra(t *testing.T) {
	b, _ := New(nil, plugin.Env{Metadata: []byte(`{"log_format":{"h":"$host"}}`)}, Options{})
	if got := decode(t, b.Build(request())); !reflect.DeepEqual(got, map[string]any{"h": "example.com", "route_id": "r1", "service_id": "s1"}) {
		t.Errorf("metadata log_format: %v", got)
	}
	b, _ = New([]byte(`{"log_format_extra":{"route_id":"$host","x":"$http_x_one"}}`), plugin.Env{}, Options{})
	got := decode(t, b.Build(request()))
	if got["x"] != "1" || got["route_id"] != "r1" {
		t.Errorf("extra: x=%v route_id=%v", got["x"], got["route_id"])
	}
}

func TestBodyExprsAndLimits(t *testing.T) {
	b, err := New([]byte(`{"include_req_body":true,"include_req_body_expr":[["arg_log","==","yes"]],
		"include_resp_body":true,"include_resp_body_expr":[["arg_log","==","yes"]],"max_resp_body_bytes":6}`),
		plugin.Env{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := request()
	b.BodyFilter(c, []byte("abcd"), false)
	b.BodyFilter(c, []byte("efgh"), true)
	m := decode(t, b.Build(c))
	if _, ok := m["request"].(map[string]any)["body"]; ok {
		t.Error("request body logged though the expression is false")
	}
	if _, ok := m["response"].(map[string]any)["body"]; ok {
		t.Error("response body logged though the expression is false")
	}
	c = request()
	c.Query = url.Values{"log": {"yes"}}
	b.BodyFilter(c, []byte("abcd"), false)
	b.BodyFilter(c, []byte("efgh"), true)
	m = decode(t, b.Build(c))
	if m["request"].(map[string]any)["body"] != "0123456789" || m["response"].(map[string]any)["body"] != "abcdef" {
		t.Errorf("bodies %v / %v", m["request"], m["response"])
	}
	if _, err := New([]byte(`{"include_req_body_expr":[["a","nope","b"]]}`), plugin.Env{}, Options{}); err == nil {
		t.Error("a bad expression compiled")
	}
}

func TestGzipResponseDecoded(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write([]byte("hello world"))
	w.Close()
	b, _ := New([]byte(`{"include_resp_body":true}`), plugin.Env{}, Options{})
	c := request()
	c.RespHdr.Set("Content-Encoding", "gzip")
	b.BodyFilter(c, z.Bytes(), true)
	m := decode(t, b.Build(c))
	if m["response"].(map[string]any)["body"] != "hello world" {
		t.Errorf("body %v", m["response"])
	}
}

func TestArray(t *testing.T) {
	b, _ := New([]byte(`{"log_format":{"a":"<&>"}}`), plugin.Env{}, Options{})
	e := b.Build(request())
	got := string(AppendArray(nil, []*Entry{e, e}))
	want := `[{"a":"<&>","route_id":"r1","service_id":"s1"},{"a":"<&>","route_id":"r1","service_id":"s1"}]`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func BenchmarkBuildDefault(b *testing.B) {
	bl, _ := New(nil, plugin.Env{}, Options{})
	c := request()
	b.ReportAllocs()
	for b.Loop() {
		bl.Build(c)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", "q\"b\\", "ctl\x01\n\t", "ünï", "bad\xff", "<&>", "\u2028"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if got := string(AppendString(nil, s)); got+"\n" != want.String() {
			t.Errorf("%q: got %s want %s", s, got, want.String())
		}
	}
}

func TestRouteIDOfAndEncode(t *testing.T) {
	for parent, want := range map[string]string{"/apisix/routes/12": "12", "/apisix/services/1": "", "": ""} {
		if got := RouteIDOf(parent); got != want {
			t.Errorf("RouteIDOf(%q) = %q, want %q", parent, got, want)
		}
	}
	b, _ := New([]byte(`{"log_format":{"a":"$uri"}}`), plugin.Env{}, Options{})
	e := b.Build(request())
	if got := string(Encode(nil, batchCfg(1), []*Entry{e})); got != `{"a":"/hello","route_id":"r1","service_id":"s1"}` {
		t.Errorf("batch_max_size 1: %s", got)
	}
	if got := string(Encode(nil, batchCfg(2), []*Entry{e})); got != `[{"a":"/hello","route_id":"r1","service_id":"s1"}]` {
		t.Errorf("batch_max_size 2: %s", got)
	}
}

func TestRespHeaderVisitor(t *testing.T) {
	b, _ := New(nil, plugin.Env{}, Options{})
	c := request()
	c.RespHdr.Add("X-Custom", "1")
	c.RespHdr.Add("X-Custom", "2")
	m := decode(t, b.Build(c)) // plugintest.Ctx is a plugin.RespHeaderVisitor
	if got := fmt.Sprint(m["response"].(map[string]any)["headers"]); got != "map[content-type:text/plain x-custom:[1 2]]" {
		t.Errorf("response headers %s", got)
	}
}
