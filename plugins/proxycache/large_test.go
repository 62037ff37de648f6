package proxycache

import (
	"crypto/sha256"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// streamCtx serves a streamed exit body the way the runtime does: through a small buffer,
// never holding it whole.
type streamCtx struct {
	tctx
	sum    hash.Hash
	n      int64
	status int
	buf    []byte
}

func (c *streamCtx) ExitStream(status int, body io.Reader, size int64) {
	c.status = status
	c.Exit(status, nil)
	if c.buf == nil {
		c.buf = make([]byte, 32<<10)
	}
	c.n, _ = io.CopyBuffer(c.sum, struct{ io.Reader }{body}, c.buf)
	if cl, ok := body.(io.Closer); ok {
		cl.Close()
	}
}

var _ plugin.StreamExiter = (*streamCtx)(nil)

// TestLargeDiskEntry fills a 50 MB entry through the body filter and serves it from disk,
// checking the body by hash and that neither step allocates anything near its size.
func TestLargeDiskEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB")
	}
	zs, _ := testZones(t, "")
	p := compile(t, zs, `{}`)
	const size = 50 << 20
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	want := sha256.New()

	var ms0, ms1, ms2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)

	pc := plugintest.New()
	pc.Path = "/large"
	c := tctx{pc}
	p.Access(c)
	pc.Info.UpStatus = 200
	pc.RespHdr.Set("Content-Type", "application/octet-stream")
	p.HeaderFilter(c)
	for sent := 0; sent < size; sent += len(chunk) {
		chunk[0] = byte(sent >> 15) // vary the content per chunk
		want.Write(chunk)
		p.BodyFilter(c, chunk, sent+len(chunk) == size)
	}
	p.Log(c)
	runtime.ReadMemStats(&ms1)

	sc := &streamCtx{tctx: tctx{plugintest.New()}, sum: sha256.New()}
	sc.Path = "/large"
	p.Access(sc)
	runtime.ReadMemStats(&ms2)
	if sc.RespHdr.Get("Apisix-Cache-Status") != "HIT" || sc.status != 200 || sc.n != size {
		t.Fatalf("served %d bytes, status %d, %v", sc.n, sc.status, sc.RespHdr)
	}
	if string(sc.sum.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("served body differs from the stored one")
	}
	fill, serve := ms1.TotalAlloc-ms0.TotalAlloc, ms2.TotalAlloc-ms1.TotalAlloc
	t.Logf("50 MB entry: allocated %d KiB while filling, %d KiB while serving; heap in use %d KiB after",
		fill>>10, serve>>10, ms2.HeapInuse>>10)
	if fill > 4<<20 || serve > 4<<20 {
		t.Fatalf("allocated %d bytes filling, %d serving a 50 MB entry", fill, serve)
	}
}

func benchHit(b *testing.B, conf string) {
	zs, _ := testZones(b, "")
	p := compile(b, zs, conf)
	o := &origin{header: http.Header{"Content-Type": {"text/plain"}}, body: string(make([]byte, 100))}
	run(p, o, nil)
	pc := plugintest.New()
	pc.Path = "/x"
	c := &streamCtx{tctx: tctx{pc}, sum: sha256.New()}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pc.RespHdr = http.Header{}
		p.Access(c)
		if !pc.Exited() {
			b.Fatal("not a hit")
		}
	}
}

// BenchmarkHitMemory / BenchmarkHitDisk: the access phase serving a 100-byte hit (the
// plugintest.Ctx's own allocations included).
func BenchmarkHitMemory(b *testing.B) {
	benchHit(b, `{"cache_strategy":"memory","cache_zone":"memory_cache"}`)
}
func BenchmarkHitDisk(b *testing.B) { benchHit(b, `{}`) }

// BenchmarkProxyLoopback is the reference a hit saves: one 100-byte keep-alive request to a
// loopback origin with net/http.
func BenchmarkProxyLoopback(b *testing.B) {
	body := make([]byte, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	defer srv.Close()
	cl := srv.Client()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := cl.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
