package pluginrt

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	_ "github.com/sluicegw/sluice/plugins/cors"
	_ "github.com/sluicegw/sluice/plugins/keyauth"
	_ "github.com/sluicegw/sluice/plugins/limitcount"
	_ "github.com/sluicegw/sluice/plugins/prometheus"
	_ "github.com/sluicegw/sluice/plugins/proxyrewrite"
	_ "github.com/sluicegw/sluice/plugins/requestid"
)

// Micro-benchmarks of the plugin runtime (issue 7): what running a chain costs per request,
// apart from the plugins' own work (BenchmarkChainDispatch), and the chains of bench/run.sh's
// cases b and c with the real plugins (BenchmarkChainBenchCases). The same chains on the real
// HTTP/1.1 context, and over loopback, are internal/proxy's BenchmarkPluginPhases and
// BenchmarkProxyLoopPlugins.

// noop implements every request phase and does nothing: the chain's own cost.
type noop struct{}

func (noop) Rewrite(plugin.Ctx)      {}
func (noop) Access(plugin.Ctx)       {}
func (noop) BeforeProxy(plugin.Ctx)  {}
func (noop) HeaderFilter(plugin.Ctx) {}
func (noop) Log(plugin.Ctx)          {}

const noopPlugins = 16

func init() {
	for i := range noopPlugins {
		plugin.Register(plugin.Definition{
			Name: fmt.Sprintf("rt-bench-noop-%d", i), Priority: 5000 - i,
			New: func(json.RawMessage, plugin.Env) (any, error) { return noop{}, nil },
		})
	}
}

// noopChain compiles no-op plugins first .. first+n-1 (distinct names, so a global rule's
// chain and the route's do not overlap).
func noopChain(b *testing.B, first, n int, src Source) *Chain {
	t := &testing.T{}
	list := make([]*Instance, n)
	for i := range list {
		list[i] = inst(t, fmt.Sprintf("rt-bench-noop-%d", first+i), src, `{}`)
	}
	if t.Failed() {
		b.Fatal("compiling the no-op chain failed")
	}
	return NewChain(list)
}

// runPhases drives one request through every phase as the proxy does.
func runPhases(st *State, set *Set, route *Chain, x plugin.Ctx) bool {
	st.Begin(set, true, route)
	exited := st.RunRewrite(x) || st.RunAccess(x) || st.RunBeforeProxy(x)
	st.RunHeaderFilter(x)
	st.RunLog(x)
	st.Reset()
	return exited
}

// BenchmarkChainDispatch: rewrite, access, before_proxy, header_filter and log over a chain of
// no-op plugins on the route, alone and merged with a global rule's chain. allocs/op must stay 0.
func BenchmarkChainDispatch(b *testing.B) {
	for _, tc := range []struct{ route, global int }{{0, 0}, {1, 0}, {4, 0}, {16, 0}, {4, 4}, {8, 8}} {
		name := fmt.Sprintf("route=%d", tc.route)
		if tc.global > 0 {
			name += fmt.Sprintf("+global=%d", tc.global)
		}
		b.Run(name, func(b *testing.B) {
			var route *Chain
			if tc.route > 0 {
				route = noopChain(b, 0, tc.route, FromRoute)
			}
			set := &Set{}
			if tc.global > 0 {
				set.Global = noopChain(b, noopPlugins-tc.global, tc.global, FromGlobalRule)
			}
			st := &State{}
			// Converted to the interface once, as the proxy hands its context over.
			var x plugin.Ctx = tctx{plugintest.New(), st}
			b.ReportAllocs()
			for b.Loop() {
				runPhases(st, set, route, x)
			}
		})
	}
}

// benchNode is the plugin.Node prometheus's Start needs; its export server listens on a free
// loopback port and is closed at cleanup.
type benchNode struct{ attr json.RawMessage }

func (n benchNode) Config(path string) json.RawMessage {
	if path == "plugin_attr.prometheus" {
		return n.attr
	}
	return nil
}
func (benchNode) Logger() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (benchNode) Hostname() string              { return "bench" }
func (benchNode) Version() string               { return "bench" }
func (benchNode) ID() string                    { return "bench-node" }
func (benchNode) Status() plugin.NodeStatus     { return plugin.NodeStatus{EtcdReachable: true} }
func (benchNode) API(string) (plugin.API, bool) { return plugin.API{}, false }

func compileReal(b *testing.B, name, conf string) *Instance {
	b.Helper()
	def, ok := plugin.Lookup(name)
	if !ok || def.New == nil {
		b.Skipf("%s has no behaviour in this build", name)
	}
	env := plugin.Env{Parent: "/apisix/routes/bench", Logger: slog.New(slog.DiscardHandler)}
	if def.Start != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		sh, err := def.Start(benchNode{attr: json.RawMessage(fmt.Sprintf(`{"export_addr":{"ip":"127.0.0.1","port":%d}}`, port))})
		if err != nil {
			b.Fatalf("%s: Start: %v", name, err)
		}
		if c, ok := sh.(interface{ Close() error }); ok {
			b.Cleanup(func() { c.Close() })
		}
		env.Shared, env.Node = sh, benchNode{}
	}
	in, err := Compile(def, json.RawMessage(conf), FromRoute, env)
	if err != nil {
		b.Fatalf("%s %s: %v", name, conf, err)
	}
	return in
}

// BenchmarkChainBenchCases runs the plugin chains of bench/run.sh's cases b (limit-count +
// prometheus, APISIX's own benchmark) and c (key-auth + proxy-rewrite + cors + request-id)
// through every phase on plugintest's in-memory Ctx. That Ctx is built on net/http headers and
// allocates itself (header writes, []byte conversions), so allocs/op here is an upper bound;
// internal/proxy's BenchmarkPluginPhases measures a chain on the real context.
func BenchmarkChainBenchCases(b *testing.B) {
	b.Run("b-limit-count+prometheus", func(b *testing.B) {
		route := NewChain([]*Instance{
			compileReal(b, "limit-count", `{"count":999999999999,"time_window":60,"rejected_code":503,"key":"remote_addr"}`),
			compileReal(b, "prometheus", `{}`),
		})
		c := plugintest.New()
		c.Route = "bench"
		c.Info.UpAddr, c.Info.UpStatus = "127.0.0.1:1980", 200
		set, st := &Set{}, &State{}
		var x plugin.Ctx = tctx{c, st}
		if runPhases(st, set, route, x) {
			b.Fatalf("the chain answered %d %s", c.ExitStatus, c.ExitBody)
		}
		if _, ok := c.RespHeader("X-RateLimit-Limit"); !ok {
			b.Fatal("limit-count did not run: no X-RateLimit-Limit")
		}
		b.ReportAllocs()
		for b.Loop() {
			if runPhases(st, set, route, x) {
				b.Fatalf("the chain answered %d", c.ExitStatus)
			}
		}
	})
	b.Run("c-key-auth+proxy-rewrite+cors+request-id", func(b *testing.B) {
		route := NewChain([]*Instance{
			compileReal(b, "key-auth", `{}`),
			compileReal(b, "proxy-rewrite", `{"uri":"/rewritten","headers":{"set":{"X-Bench":"sluice"}}}`),
			compileReal(b, "cors", `{}`),
			compileReal(b, "request-id", `{}`),
		})
		ka, _ := plugin.Lookup("key-auth")
		idx, err := ka.Index([]plugin.Credential{{Consumer: &plugin.Consumer{Username: "bench"}, Conf: json.RawMessage(`{"key":"bench-consumer-key"}`)}})
		if err != nil {
			b.Fatal(err)
		}
		set := &Set{Indexes: map[string]any{"key-auth": idx}}
		c := plugintest.New()
		c.Route = "bench"
		st := &State{}
		var x plugin.Ctx = tctx{c, st}
		reset := func() {
			c.Path = "/bench/c"
			clear(c.ReqHeader)
			clear(c.RespHdr)
			c.ReqHeader.Set("Apikey", "bench-consumer-key")
			c.ReqHeader.Set("Origin", "http://bench.example")
		}
		reset()
		if runPhases(st, set, route, x) {
			b.Fatalf("the chain answered %d %s", c.ExitStatus, c.ExitBody)
		}
		if c.Path != "/rewritten" || c.RespHdr.Get("Access-Control-Allow-Origin") == "" || c.RespHdr.Get("X-Request-Id") == "" {
			b.Fatalf("the plugins did not all run: uri %q, response headers %v", c.Path, c.RespHdr)
		}
		b.ReportAllocs()
		for b.Loop() {
			reset()
			if runPhases(st, set, route, x) {
				b.Fatalf("the chain answered %d", c.ExitStatus)
			}
		}
	})
}
