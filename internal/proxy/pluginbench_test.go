package proxy

import (
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
	_ "github.com/sluicegw/sluice/plugins/cors"
	_ "github.com/sluicegw/sluice/plugins/iprestriction"
	_ "github.com/sluicegw/sluice/plugins/keyauth"
	_ "github.com/sluicegw/sluice/plugins/proxyrewrite"
)

// benchChain is the reference chain: key-auth + ip-restriction + proxy-rewrite + cors.
func benchChain(tb testing.TB) (*pluginrt.Chain, *pluginrt.Set) {
	return compileChain(tb, map[string]string{
		"key-auth":       `{}`,
		"ip-restriction": `{"whitelist":["127.0.0.0/8"]}`,
		"proxy-rewrite":  `{"uri":"/rewritten","headers":{"set":{"X-Bench":"1"}}}`,
		"cors":           `{}`,
	}, "jack", "bench-key")
}

// compileChain compiles route-level plugin confs into a chain, with key-auth's index holding
// one consumer (username, key).
func compileChain(tb testing.TB, confs map[string]string, username, key string) (*pluginrt.Chain, *pluginrt.Set) {
	var list []*pluginrt.Instance
	for name, conf := range confs {
		def, ok := plugin.Lookup(name)
		if !ok || def.New == nil {
			tb.Skipf("%s has no behaviour in this build", name)
		}
		in, err := pluginrt.Compile(def, json.RawMessage(conf), pluginrt.FromRoute, plugin.Env{Parent: "/apisix/routes/1"})
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		list = append(list, in)
	}
	ka, _ := plugin.Lookup("key-auth")
	idx, err := ka.Index([]plugin.Credential{{Consumer: &plugin.Consumer{Username: username},
		Conf: json.RawMessage(`{"key":"` + key + `"}`)}})
	if err != nil {
		tb.Fatal(err)
	}
	return pluginrt.NewChain(list), &pluginrt.Set{Indexes: map[string]any{"key-auth": idx}}
}

// BenchmarkPluginPhases measures the plugin runtime's per-request cost on the HTTP/1.1
// context, without network: request phases, header filter, body filter and log for the
// reference chain ("chain") against a route without plugins ("none").
func BenchmarkPluginPhases(b *testing.B) {
	chain, set := benchChain(b)
	benchPhases(b, chain, set, "/bench/item?id=42", "bench-key", []byte("0123456789"))
}

// benchPhases runs every phase of chain per iteration on the HTTP/1.1 context for a request to
// uri carrying apikey and Origin, as sub-benchmark "chain", and the same without plugins as
// "none".
func benchPhases(b *testing.B, chain *pluginrt.Chain, set *pluginrt.Set, uri, apikey string, body []byte) {
	s, err := Listen(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		chain *pluginrt.Chain
	}{{"none", nil}, {"chain", chain}} {
		b.Run(tc.name, func(b *testing.B) {
			snap := &snapshot.Snapshot{Plugins: set}
			route := &snapshot.Route{ID: "1", Chain: tc.chain}
			fc := &fasthttp.RequestCtx{}
			fc.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
			b.ReportAllocs()
			for b.Loop() {
				fc.Request.Reset()
				fc.Response.Reset()
				fc.Request.SetRequestURI(uri)
				fc.Request.Header.SetHost("bench.local")
				fc.Request.Header.Set("apikey", apikey)
				fc.Request.Header.Set("Origin", "http://a.example")
				rc := acquireReqCtx(s)
				rc.fc = fc
				rc.scheme = "http"
				rc.initAddrs(fc.RemoteAddr(), fc.LocalAddr(), nil)
				rc.normalize()
				rc.snap, rc.route = snap, route
				if s.runRequestPhases(rc) || s.runBeforeProxy(rc) {
					b.Fatalf("answered %d %s", fc.Response.StatusCode(), fc.Response.Body())
				}
				s.runHeaderFilter(rc)
				s.filterBody(rc, body, true)
				s.runLog(rc)
				releaseReqCtx(rc)
			}
		})
	}
}

// BenchmarkProxyLoopPlugins is BenchmarkProxyLoop with the reference chain on the route.
func BenchmarkProxyLoopPlugins(b *testing.B) {
	chain, set := benchChain(b)
	body := make([]byte, 100)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}).Serve(ln)
	b.Cleanup(func() { ln.Close() })
	snap := buildSnapshot(b, testRoute{id: "1", uri: "/bench/*", up: &model.Upstream{Nodes: nodes(ln.Addr().String())}})
	snap.Routes["1"].Chain = chain
	snap.Plugins = set
	src := &staticSnapshots{}
	src.s.Store(snap)
	s, err := Listen(Options{Addrs: []string{"127.0.0.1:0"}, Snapshots: src})
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve()
	b.Cleanup(func() { s.Shutdown(b.Context()) })
	benchClientWith(b, s.Addrs()[0].String(), map[string]string{"apikey": "bench-key", "Origin": "http://a.example"})
}

// benchClientWith is benchClient sending extra request headers.
func benchClientWith(b *testing.B, addr string, hdr map[string]string) {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 64, ReadTimeout: 5 * time.Second}
	b.ReportAllocs()
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://bench.local/bench/item?id=42")
		req.Header.Set("User-Agent", "bench")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		for pb.Next() {
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body())
				return
			}
		}
	})
}
