package proxy

import (
	"context"
	"math/rand/v2"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/upstream"
)

// The InMemory benchmarks run client → proxy → origin over fasthttputil's in-memory pipes:
// no syscalls, so ns/op is user-space work only and the difference between the two is what
// Sluice adds per request over a bare fasthttp proxy (bench case a: one route, no plugins,
// 100-byte responses). Run them on one core (-cpu 1) to read ns/op as CPU per request.

// BenchmarkInMemorySluice is bench case (a) through Sluice.
func BenchmarkInMemorySluice(b *testing.B) {
	oln := inMemoryOrigin(b)
	// the node address is never dialled (upstream.Options.Dial); it only names the node
	s, _ := startProxy(b, Options{}, testRoute{id: "1", uri: "/bench/*",
		up:     &model.Upstream{Nodes: nodes("127.0.0.2:1980")},
		upOpts: upstream.Options{Dial: func(context.Context, string) (net.Conn, error) { return oln.Dial() }}})
	pln := inMemoryListener()
	go s.acceptLoop(pln) //nolint:errcheck // ends when pln closes
	b.Cleanup(func() { pln.Close() })
	inMemoryClient(b, pln)
}

// BenchmarkInMemoryBare is the same exchange through a bare fasthttp Server + HostClient.
func BenchmarkInMemoryBare(b *testing.B) {
	oln := inMemoryOrigin(b)
	up := &fasthttp.HostClient{Addr: "127.0.0.2:1980", MaxConns: 512,
		Dial: func(string) (net.Conn, error) { return oln.Dial() }}
	pln := inMemoryListener()
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if err := up.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
		}
	}}).Serve(pln)
	b.Cleanup(func() { pln.Close() })
	inMemoryClient(b, pln)
}

// serveInMemory runs a proxy serving snap on an in-memory listener, which it returns.
func serveInMemory(b *testing.B, snap *snapshot.Snapshot) *fasthttputil.InmemoryListener {
	src := &staticSnapshots{}
	src.s.Store(snap)
	s, err := Listen(Options{Snapshots: src, ServerName: "sluice/test"})
	if err != nil {
		b.Fatal(err)
	}
	pln := inMemoryListener()
	go s.acceptLoop(pln) //nolint:errcheck // ends when pln closes
	b.Cleanup(func() { pln.Close() })
	return pln
}

// inMemoryListener looks like a TCP listener on 127.0.0.1:9080 to the server behind it.
func inMemoryListener() *fasthttputil.InmemoryListener {
	ln := fasthttputil.NewInmemoryListener()
	ln.SetLocalAddr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9080})
	return ln
}

// inMemoryOrigin answers every request with 100 bytes.
func inMemoryOrigin(b *testing.B) *fasthttputil.InmemoryListener {
	body := make([]byte, 100)
	ln := inMemoryListener()
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}).Serve(ln)
	b.Cleanup(func() { ln.Close() })
	return ln
}

// inMemoryClient drives the proxy behind ln from 8 keep-alive connections per core
// (RunParallel's goroutines), each from its own TCP-looking client address.
func inMemoryClient(b *testing.B, ln *fasthttputil.InmemoryListener) {
	runInMemory(b, inMemoryHostClient(ln), func() *fasthttp.Request {
		req := fasthttp.AcquireRequest()
		req.SetRequestURI("http://bench.local/bench/item?id=42")
		req.Header.Set("User-Agent", "bench")
		return req
	})
}

// inMemoryHostClient dials ln, each connection from its own TCP-looking client address.
func inMemoryHostClient(ln *fasthttputil.InmemoryListener) *fasthttp.HostClient {
	var port atomic.Int32
	return &fasthttp.HostClient{Addr: "bench.local", MaxConns: 8 * runtime.GOMAXPROCS(0), ReadTimeout: 5 * time.Second,
		Dial: func(string) (net.Conn, error) {
			return ln.DialWithLocalAddr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000 + int(port.Add(1))})
		}}
}

// runInMemory sends newReq's request from 8 goroutines per core until b.N, expecting 200 with
// the origin's 100 bytes, and reports the process's CPU time per request.
func runInMemory(b *testing.B, client *fasthttp.HostClient, newReq func() *fasthttp.Request) {
	runInMemoryRotating(b, client, func() []*fasthttp.Request { return []*fasthttp.Request{newReq()} })
}

// runInMemoryRotating is runInMemory with each goroutine sending the requests newReqs gives it
// in turn.
func runInMemoryRotating(b *testing.B, client *fasthttp.HostClient, newReqs func() []*fasthttp.Request) {
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	cpu0 := processCPU()
	defer func() {
		// CPU time is what the comparison is about, and unlike ns/op it does not grow when
		// other processes take the machine's cores
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		reqs, resp := newReqs(), fasthttp.AcquireResponse()
		defer func() {
			for _, req := range reqs {
				fasthttp.ReleaseRequest(req)
			}
		}()
		defer fasthttp.ReleaseResponse(resp)
		for k := 0; pb.Next(); k++ {
			if k == len(reqs) {
				k = 0
			}
			if err := client.Do(reqs[k], resp); err != nil || resp.StatusCode() != fasthttp.StatusOK || len(resp.Body()) != 100 {
				b.Errorf("%s: %v %d", reqs[k].URI(), err, resp.StatusCode())
				return
			}
		}
	})
}

// processCPU is the process's user and system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// The canonical names set with SetCanonical must be exactly what Set would have sent.
func TestCanonicalForwardingNames(t *testing.T) {
	for name, canon := range map[string][]byte{
		hdrXRealIP: canonXRealIP, hdrXForwardedFor: canonXForwardedFor,
		hdrXForwardedProto: canonXForwardedProto, hdrXForwardedHost: canonXForwardedHost,
		hdrXForwardedPort: canonXForwardedPort,
	} {
		var h fasthttp.RequestHeader
		h.Set(name, "v")
		n := 0
		for k := range h.All() {
			n++
			if string(k) != string(canon) {
				t.Errorf("%s is sent as %q, SetCanonical uses %q", name, k, canon)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d fields", name, n)
		}
	}
}

// plainPath's shortcut in normalize must give what removeDotSegments and matchPath give.
func TestPlainPathShortcut(t *testing.T) {
	const alphabet = "/./%2eEaF;"
	rnd := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/", "/a", "/a/", "/a/b.c", "/.a", "/a/.", "/a//b", "/%2e", "a", "", "*", "/a;b/c"}
	for range 20000 {
		b := make([]byte, 1+rnd.IntN(12))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		paths = append(paths, string(b))
	}
	plain := 0
	for _, p := range paths {
		if !plainPath([]byte(p)) {
			continue
		}
		plain++
		for _, o := range []Options{{}, {DeleteURITailSlash: true}, {MatchURIEncodedSlash: true}} {
			up := removeDotSegments(nil, []byte(p))
			match, ok := matchPath(nil, up, &o)
			want := p
			if o.DeleteURITailSlash && len(want) > 1 && want[len(want)-1] == '/' {
				want = want[:len(want)-1]
			}
			if !ok || string(up) != p || string(match) != want {
				t.Errorf("%q %+v: upstream %q, match %q (ok %v); shortcut gives %q, %q", p, o, up, match, ok, p, want)
			}
		}
	}
	if plain < 1000 {
		t.Fatalf("only %d plain paths tried", plain)
	}
}
