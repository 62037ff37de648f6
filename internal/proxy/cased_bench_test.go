package proxy

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/upstream"
)

// BenchmarkInMemoryCaseD is bench case (d) (bench/run.sh) over in-memory pipes: 10k routes
// /bench/d/<i> sharing one upstream (upstream_id, as bench/etcdload writes them), requests
// spread over 100 of them. The control "1-route" sends the same requests to one route
// /bench/* : the difference between the two is what the 10k routes cost, apart from the
// client's own cost of varying its requests (which BenchmarkInMemorySluice, case a, does not
// have). The bar is case (d) within 5 % of case (a); run with -cpu 1.
func BenchmarkInMemoryCaseD(b *testing.B) {
	const routes, requested = 10000, 100
	for _, tc := range []struct {
		name   string
		routes int
	}{{"10k-routes", routes}, {"1-route", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			oln := inMemoryOrigin(b)
			// the node address is never dialled (upstream.Options.Dial); it only names the node
			up, err := upstream.NewWithOptions("/apisix/upstreams/origin", &model.Upstream{Nodes: nodes("127.0.0.2:1980")},
				upstream.Options{Dial: func(context.Context, string) (net.Conn, error) { return oln.Dial() }})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(up.Close)
			snap := &snapshot.Snapshot{Routes: make(map[string]*snapshot.Route, tc.routes)}
			rr := make([]router.Route, 0, tc.routes)
			for i := range tc.routes {
				id, uri := fmt.Sprint(i), fmt.Sprintf("/bench/d/%d", i)
				if tc.routes == 1 {
					uri = "/bench/*"
				}
				r := &snapshot.Route{ID: id, Spec: &model.Route{URI: uri, UpstreamID: "origin"}, Upstream: up}
				snap.Routes[id] = r
				rr = append(rr, router.Route{ID: id, URIs: []string{uri}, Value: r})
			}
			rt, errs := router.Build(rr, router.Options{Mode: router.HostURI})
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			snap.Router = rt
			pln := serveInMemory(b, snap)

			// each client goroutine walks the 100 requested paths, as wrk.lua does per connection
			var next atomic.Int32
			runInMemoryRotating(b, inMemoryHostClient(pln), func() []*fasthttp.Request {
				start := int(next.Add(1))
				reqs := make([]*fasthttp.Request, requested)
				for k := range reqs {
					req := fasthttp.AcquireRequest()
					req.SetRequestURI(fmt.Sprintf("http://bench.local/bench/d/%d", ((start+k)%requested)*(routes/requested)))
					req.Header.Set("User-Agent", "bench")
					reqs[k] = req
				}
				return reqs
			})
		})
	}
}
