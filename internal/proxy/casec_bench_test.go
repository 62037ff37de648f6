package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/upstream"
	_ "github.com/sluicegw/sluice/plugins/cors"
	_ "github.com/sluicegw/sluice/plugins/keyauth"
	_ "github.com/sluicegw/sluice/plugins/proxyrewrite"
	_ "github.com/sluicegw/sluice/plugins/requestid"
)

// Bench case (c) (bench/run.sh): one route with key-auth (one consumer, header apikey),
// proxy-rewrite (uri + one header set), cors (defaults, the request sends Origin) and
// request-id (defaults). Compare BenchmarkInMemoryCaseC with BenchmarkInMemorySluice (case a)
// on one core (-cpu 1): the difference is what the four plugins cost per request.

const caseCKey = "bench-consumer-key"

// caseCChain compiles bench/run.sh's case (c) plugin confs and key-auth's consumer index.
func caseCChain(tb testing.TB) (*pluginrt.Chain, *pluginrt.Set) {
	return compileChain(tb, map[string]string{
		"key-auth":      `{}`,
		"proxy-rewrite": `{"uri":"/rewritten","headers":{"set":{"X-Bench":"sluice"}}}`,
		"cors":          `{}`,
		"request-id":    `{}`,
	}, "bench", caseCKey)
}

// BenchmarkInMemoryCaseC is bench case (c) through Sluice over in-memory pipes, as
// BenchmarkInMemorySluice is case (a).
func BenchmarkInMemoryCaseC(b *testing.B) {
	chain, set := caseCChain(b)
	oln := inMemoryOrigin(b)
	// the node address is never dialled (upstream.Options.Dial); it only names the node
	snap := buildSnapshot(b, testRoute{id: "1", uri: "/bench/*",
		up:     &model.Upstream{Nodes: nodes("127.0.0.2:1980")},
		upOpts: upstream.Options{Dial: func(context.Context, string) (net.Conn, error) { return oln.Dial() }}})
	snap.Routes["1"].Chain = chain
	snap.Plugins = set
	client := inMemoryHostClient(serveInMemory(b, snap))
	newReq := func() *fasthttp.Request {
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://bench.local/bench/c")
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("apikey", caseCKey)
		req.Header.Set("Origin", "http://a.example")
		return req
	}

	// One checked exchange first: every plugin must have run, or the figures mean nothing.
	req, resp := newReq(), fasthttp.AcquireResponse()
	if err := client.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
	}
	for name, want := range map[string]string{"Access-Control-Allow-Origin": "*", "Vary": ""} {
		if got := string(resp.Header.Peek(name)); got != want {
			b.Fatalf("%s: %q, want %q", name, got, want)
		}
	}
	if id := resp.Header.Peek("X-Request-Id"); len(id) != 36 {
		b.Fatalf("X-Request-Id %q", id)
	}
	req.Header.Del("apikey")
	if err := client.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusUnauthorized {
		b.Fatalf("without apikey: %v %d", err, resp.StatusCode())
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)

	runInMemory(b, client, newReq)
}

// BenchmarkCaseCPhases is the plugin runtime's share of case (c): request phases, header
// filter, body filter and log on the HTTP/1.1 context without network, against no plugins.
func BenchmarkCaseCPhases(b *testing.B) {
	chain, set := caseCChain(b)
	benchPhases(b, chain, set, "/bench/c", caseCKey, make([]byte, 100))
}
