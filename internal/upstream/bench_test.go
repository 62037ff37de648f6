package upstream

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
)

func benchUpstream(b *testing.B, kind string) *Upstream {
	return mustNew(b, kind, nd("10.0.0.1", 5, 0), nd("10.0.0.2", 1, 0), nd("10.0.0.3", 1, 0),
		nd("10.0.0.4", 2, 0), nd("10.0.0.9", 1, -1))
}

// BenchmarkPick is one request's pick and finish; allocs/op must stay 0.
func BenchmarkPick(b *testing.B) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			u := benchUpstream(b, kind)
			var a Attempt
			key := []byte("/api/users/12345")
			b.ReportAllocs()
			for b.Loop() {
				a.Reset()
				a.HashKey = key
				if u.Pick(&a) == nil {
					b.Fatal("no node")
				}
				a.Finish(0)
			}
		})
	}
	b.Run("roundrobin-locked", func(b *testing.B) {
		u := mustNew(b, "roundrobin", nd("a", maxSchedule, 0), nd("b", 1, 0), nd("c", 1, 0))
		var a Attempt
		b.ReportAllocs()
		for b.Loop() {
			a.Reset()
			u.Pick(&a)
			a.Finish(0)
		}
	})
}

// BenchmarkPickRetry is a first pick plus two retries.
func BenchmarkPickRetry(b *testing.B) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			u := benchUpstream(b, kind)
			var a Attempt
			key := []byte("/api/users/12345")
			b.ReportAllocs()
			for b.Loop() {
				a.Reset()
				a.HashKey = key
				u.Pick(&a)
				u.Pick(&a)
				u.Pick(&a)
				a.Finish(0)
			}
		})
	}
}

// BenchmarkPickParallel shows contention on the per-upstream state.
func BenchmarkPickParallel(b *testing.B) {
	for _, kind := range append(kinds, "roundrobin-locked") {
		b.Run(kind, func(b *testing.B) {
			var u *Upstream
			if kind == "roundrobin-locked" {
				u = mustNew(b, "roundrobin", nd("a", maxSchedule, 0), nd("b", 1, 0), nd("c", 1, 0))
			} else {
				u = benchUpstream(b, kind)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var a Attempt
				key := []byte("/api/users/12345")
				for pb.Next() {
					a.Reset()
					a.HashKey = key
					u.Pick(&a)
					a.Finish(0)
				}
			})
		})
	}
}

// BenchmarkRoundTrip is Acquire + RoundTrip + Release of a GET with a 100-byte response on a
// pooled loopback connection to a fasthttp server.
func BenchmarkRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	u := upstreamFor(b, &model.Upstream{}, ln.Addr().String())
	n := u.Nodes()[0]
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("/bench")
	req.Header.SetHost("upstream.test")
	ctx := context.Background()
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		iters++
		c, err := n.Acquire(ctx, testTimeouts)
		if err != nil {
			b.Fatal(err)
		}
		if err := RoundTrip(c, req, resp); err != nil {
			b.Fatal(err)
		}
		c.Release(true)
	}
	// keepalive_pool.requests (1000) retires each connection.
	if want := (iters + DefaultPoolRequests - 1) / DefaultPoolRequests; n.Dials() != want {
		b.Fatalf("dials %d for %d requests, want %d", n.Dials(), iters, want)
	}
}

// BenchmarkRoundTripHostClient is the same exchange through fasthttp.HostClient, for scale.
func BenchmarkRoundTripHostClient(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	hc := &fasthttp.HostClient{Addr: ln.Addr().String()}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("/bench")
	req.Header.SetHost("upstream.test")
	b.ReportAllocs()
	for b.Loop() {
		if err := hc.Do(req, resp); err != nil {
			b.Fatal(err)
		}
	}
}
