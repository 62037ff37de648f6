package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/plugin"
)

// proxyTestPlugin exercises plugin.Ctx on the HTTP/1.1 engine; conf picks what it does.
type proxyTestPlugin struct {
	URI        string `json:"uri"`
	Exit       int    `json:"exit"`
	Suffix     string `json:"suffix"`
	UpperBody  bool   `json:"upper_body"`
	SetArg     string `json:"set_arg"`
	ExitBodyOK bool   `json:"exit_body"`
}

func (p *proxyTestPlugin) Rewrite(c plugin.Ctx) {
	c.SetHeader("X-Plugin", "1")
	c.SetRespHeader("X-Resp", "rewrite")
	if p.URI != "" {
		c.SetURI(p.URI)
	}
	if p.SetArg != "" {
		c.SetArg(p.SetArg, "v")
	}
	if p.Exit != 0 {
		var body []byte
		if p.ExitBodyOK {
			body = plugin.Message("bye")
		}
		c.Exit(p.Exit, body)
	}
}

func (p *proxyTestPlugin) Access(c plugin.Ctx) {
	if p.UpperBody {
		b, err := c.Body()
		if err != nil {
			c.Exit(500, nil)
			return
		}
		c.SetBody(bytes.ToUpper(b))
	}
}

func (p *proxyTestPlugin) HeaderFilter(c plugin.Ctx) { c.SetRespHeader("X-HF", "1") }

func (p *proxyTestPlugin) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	if eof && p.Suffix != "" {
		return append(append([]byte(nil), chunk...), p.Suffix...)
	}
	return chunk
}

func init() {
	plugin.Register(plugin.Definition{Name: "proxy-test", Priority: 1, New: func(conf json.RawMessage, _ plugin.Env) (any, error) {
		p := &proxyTestPlugin{}
		return p, json.Unmarshal(conf, p)
	}})
}

func testInstance(t testing.TB, src pluginrt.Source, conf string) *pluginrt.Instance {
	def, _ := plugin.Lookup("proxy-test")
	in, err := pluginrt.Compile(def, json.RawMessage(conf), src, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestPluginCtxHTTP1(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-Plugin")+" "+r.URL.RequestURI()+" "+string(b))
		if r.URL.Path == "/big" {
			w.Write([]byte(big))
			return
		}
		w.Write([]byte("origin"))
	})
	src := &staticSnapshots{}
	snap := buildSnapshot(t,
		testRoute{id: "rw", uri: "/rw", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "big", uri: "/big", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "exit", uri: "/exit", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "exitbody", uri: "/exitbody", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "body", uri: "/body", up: &model.Upstream{Nodes: nodes(up)}},
	)
	chain := func(conf string) *pluginrt.Chain {
		return pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromRoute, conf)})
	}
	snap.Routes["rw"].Chain = chain(`{"uri":"/rewritten","suffix":"+sfx","set_arg":"a"}`)
	snap.Routes["big"].Chain = chain(`{"suffix":"+sfx"}`)
	snap.Routes["exit"].Chain = chain(`{"exit":403}`)
	snap.Routes["exitbody"].Chain = chain(`{"exit":401,"exit_body":true,"suffix":"+sfx"}`)
	snap.Routes["body"].Chain = chain(`{"upper_body":true}`)
	snap.Plugins = &pluginrt.Set{}
	src.s.Store(snap)
	s, err := Listen(Options{Addrs: []string{"127.0.0.1:0"}, Snapshots: src, ServerName: "sluice/test"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	addr := s.Addrs()[0].String()

	get := func(method, path, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	resp, body := get("GET", "/rw?q=1", "")
	if body != "origin+sfx" || resp.Header.Get("X-Seen") != "1 /rewritten?q=1&a=v" ||
		resp.Header.Get("X-Resp") != "rewrite" || resp.Header.Get("X-HF") != "1" {
		t.Fatalf("rw: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get("GET", "/big", "")
	if body != big+"+sfx" || resp.Header.Get("X-HF") != "1" {
		t.Fatalf("big (streamed): %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	resp, body = get("GET", "/exit", "")
	if resp.StatusCode != 403 || !strings.Contains(body, "<title>403 Forbidden</title>") ||
		resp.Header.Get("X-Resp") != "rewrite" || resp.Header.Get("X-HF") != "1" || resp.Header.Get("X-Seen") != "" {
		t.Fatalf("exit: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get("GET", "/exitbody", "")
	if resp.StatusCode != 401 || body != "{\"message\":\"bye\"}\n+sfx" {
		t.Fatalf("exit with body: %d %q", resp.StatusCode, body)
	}
	resp, _ = get("POST", "/body", "hello")
	if resp.Header.Get("X-Seen") != "1 /body HELLO" {
		t.Fatalf("body: %v", resp.Header)
	}

	// Global rules: they run for unmatched requests before the 404, and first on matched ones.
	snap2 := *snap
	snap2.Plugins = &pluginrt.Set{Global: pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromGlobalRule, `{"suffix":"+g"}`)})}
	src.s.Store(&snap2)
	resp, body = get("GET", "/nothing", "")
	if resp.StatusCode != 404 || body != "{\"error_msg\":\"404 Route Not Found\"}\n+g" || resp.Header.Get("X-HF") != "1" {
		t.Fatalf("unmatched: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get("GET", "/rw", "")
	if body != "origin+g+sfx" {
		t.Fatalf("global + route body filters: %q", body)
	}
	snap3 := snap2
	snap3.Plugins = &pluginrt.Set{Global: pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromGlobalRule, `{"exit":429}`)})}
	src.s.Store(&snap3)
	if resp, _ = get("GET", "/nothing", ""); resp.StatusCode != 429 {
		t.Fatalf("global exit on unmatched: %d", resp.StatusCode)
	}
}

// A pooled response (reset, or overwritten by an upstream head via CopyTo) keeps fasthttp's
// Content-Encoding/Content-Length fields truncated, not nil: RespHeader must still report them absent, or brotli skips every response after the
// first it compressed on a connection ("already encoded").
func TestRespHeaderAfterReset(t *testing.T) {
	var fc fasthttp.RequestCtx
	fc.Response.Header.Set("Content-Encoding", "br")
	fc.Response.Header.SetContentLength(10)
	fc.Response.Reset()
	fc.Response.Header.Set("Content-Encoding", "br")
	var upstream fasthttp.ResponseHeader // the next response's head, without either
	upstream.CopyTo(&fc.Response.Header)
	rc := &reqCtx{fc: &fc}
	for _, name := range []string{"Content-Encoding", "content-length"} {
		if v, ok := rc.RespHeader(name); ok {
			t.Errorf("%s after reset: %q present", name, v)
		}
	}
	fc.Response.Header.Set("Content-Encoding", "gzip")
	if v, ok := rc.RespHeader("Content-Encoding"); !ok || string(v) != "gzip" {
		t.Errorf("Content-Encoding = %q, %v", v, ok)
	}
}

// SetHeader("Cookie") replaces the cookies (jwt-auth's hide_credentials rebuilds the header
// without its cookie); fasthttp alone would append the parsed pairs to the existing ones.
func TestSetHeaderCookieReplaces(t *testing.T) {
	var fc fasthttp.RequestCtx
	fc.Request.Header.Set("Cookie", "a=1; jwt=t; b=2")
	rc := &reqCtx{fc: &fc}
	rc.SetHeader("cookie", "a=1; b=2")
	if got, _ := rc.Header("Cookie"); string(got) != "a=1; b=2" {
		t.Fatalf("Cookie = %q", got)
	}
}

// Deleting the last query arg leaves no '?' on the upstream URI, also when the pooled query
// buffer was used before (key-auth hide_credentials with ?apikey= as the only arg).
func TestDelLastArgDropsQuery(t *testing.T) {
	var fc fasthttp.RequestCtx
	fc.Request.SetRequestURI("/p?apikey=k")
	rc := &reqCtx{fc: &fc, query: []byte("apikey=k")}
	rc.plug.queryBuf = make([]byte, 0, 16) // a buffer left by an earlier request
	rc.DelArg("apikey")
	if rc.query != nil {
		t.Fatalf("query %q, want none", rc.query)
	}
	rc.SetArg("a", "1")
	if string(rc.query) != "a=1" {
		t.Fatalf("query %q", rc.query)
	}
}

// SetRequestURI("path?") keeps an empty query (and so the '?') even on a fresh context whose
// pooled query buffer is still nil, as on the HTTP/2 path.
func TestSetRequestURIKeepsEmptyQuery(t *testing.T) {
	var fc fasthttp.RequestCtx
	fc.Request.SetRequestURI("/p?a=1")
	rc := &reqCtx{fc: &fc, query: []byte("a=1")}
	rc.SetRequestURI("/q?")
	if rc.query == nil || len(rc.query) != 0 || string(rc.upstreamPath) != "/q" {
		t.Fatalf("path %q query %q (nil=%v), want /q with an empty query", rc.upstreamPath, rc.query, rc.query == nil)
	}
	rc.SetRequestURI("/r")
	if rc.query != nil {
		t.Fatalf("query %q, want none", rc.query)
	}
}
