package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
)

// BenchmarkProxyLoop measures the full loop over loopback: a fasthttp client → Sluice (edge
// checks, normalization, route match, header rewrite, pooled upstream connection) → a fasthttp
// origin answering 100 bytes. Client and origin allocate nothing per request, so allocs/op is
// the gateway's.
func BenchmarkProxyLoop(b *testing.B) {
	body := make([]byte, 100)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	originSrv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go originSrv.Serve(ln)
	b.Cleanup(func() { ln.Close() })

	_, addr := startProxy(b, Options{}, testRoute{id: "1", uri: "/bench/*", up: &model.Upstream{Nodes: nodes(ln.Addr().String())}})
	benchClient(b, addr)
}

// BenchmarkBareFasthttpProxy is the reference the design measures against: a fasthttp server
// forwarding with fasthttp.HostClient, no routing.
func BenchmarkBareFasthttpProxy(b *testing.B) {
	body := make([]byte, 100)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}).Serve(ln)
	b.Cleanup(func() { ln.Close() })
	up := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 512}
	pln, _ := net.Listen("tcp", "127.0.0.1:0")
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if err := up.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.SetStatusCode(502)
		}
	}}).Serve(pln)
	b.Cleanup(func() { pln.Close() })
	benchClient(b, pln.Addr().String())
}

func benchClient(b *testing.B, addr string) {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 64, ReadTimeout: 5 * time.Second}
	b.ReportAllocs()
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://bench.local/bench/item?id=42")
		req.Header.Set("User-Agent", "bench")
		for pb.Next() {
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d", err, resp.StatusCode())
				return
			}
		}
	})
}

// BenchmarkDirectOrigin is the client and origin alone: the floor under both proxies.
func BenchmarkDirectOrigin(b *testing.B) {
	body := make([]byte, 100)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}).Serve(ln)
	b.Cleanup(func() { ln.Close() })
	benchClient(b, ln.Addr().String())
}
