package gzip

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t testing.TB, conf string) *Gzip {
	t.Helper()
	d, ok := plugin.Lookup("gzip")
	if !ok || d.New == nil {
		t.Fatal("gzip not registered with New")
	}
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Gzip)
}

// protoCtx answers $server_protocol, which plugintest.Ctx leaves to the engine.
type protoCtx struct {
	*plugintest.Ctx
	proto string
}

func (c protoCtx) Lookup(v *plugin.Var) ([]byte, bool) {
	if v.Kind == plugin.VarServerProtocol && c.proto != "" {
		return []byte(c.proto), true
	}
	return c.Ctx.Lookup(v)
}

// request is an HTML response of 100 bytes to a client accepting gzip.
func request() *plugintest.Ctx {
	c := plugintest.New()
	c.ReqHeader.Set("Accept-Encoding", "gzip, deflate")
	c.RespHdr.Set("Content-Type", "text/html; charset=utf-8")
	c.RespHdr.Set("Content-Length", "100")
	return c
}

// run passes chunks through the header and body filters and the log phase, as the runtime does.
func run(g *Gzip, c plugin.Ctx, chunks ...string) []byte {
	g.HeaderFilter(c)
	var out []byte
	for i, ch := range chunks {
		out = append(out, g.BodyFilter(c, []byte(ch), i == len(chunks)-1)...)
	}
	g.Log(c)
	return out
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := stdgzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

func TestCompresses(t *testing.T) {
	g := compile(t, `{}`)
	body := strings.Repeat("hello world ", 10)
	for round := 0; round < 3; round++ { // the pooled compressor is reused cleanly
		c := request()
		c.RespHdr.Set("ETag", `"abc"`)
		c.RespHdr.Set("Accept-Ranges", "bytes")
		out := run(g, c, body[:50], body[50:100], body[100:])
		if got := gunzip(t, out); got != body {
			t.Fatalf("round %d: got %q", round, got)
		}
		h := c.RespHdr
		if h.Get("Content-Encoding") != "gzip" || h.Get("Content-Length") != "" ||
			h.Get("Accept-Ranges") != "" || h.Get("ETag") != `W/"abc"` || h.Get("Vary") != "" {
			t.Fatalf("round %d: headers %v", round, h)
		}
	}
}

// Each chunk is flushed: what the filter returned for the first chunk decodes to it before
// the rest of the body exists.
func TestStreams(t *testing.T) {
	g := compile(t, `{}`)
	c := request()
	c.RespHdr.Del("Content-Length")
	g.HeaderFilter(c)
	first := append([]byte(nil), g.BodyFilter(c, []byte("data: one\n\n"), false)...)
	zr, err := stdgzip.NewReader(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(zr, buf, len("data: one\n\n"))
	if string(buf[:n]) != "data: one\n\n" {
		t.Fatalf("first chunk decodes to %q", buf[:n])
	}
	rest := g.BodyFilter(c, []byte("data: two\n\n"), false)
	first = append(first, rest...)
	first = append(first, g.BodyFilter(c, nil, true)...)
	g.Log(c)
	if got := gunzip(t, first); got != "data: one\n\ndata: two\n\n" {
		t.Fatalf("got %q", got)
	}
}

func TestSkips(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		edit       func(c *plugintest.Ctx)
		proto      string
		vary       bool // Vary added though nothing is compressed
	}{
		{name: "no accept-encoding", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Del("Accept-Encoding") }, vary: true},
		{name: "q=0", conf: `{}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Accept-Encoding", "br, gzip;q=0") }},
		{name: "q=0.000", conf: `{}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Accept-Encoding", "gzip; q=0.000") }},
		{name: "x-gzip only", conf: `{}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Accept-Encoding", "x-gzip") }},
		{name: "wildcard only", conf: `{}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Accept-Encoding", "*") }},
		{name: "no content-type", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Del("Content-Type") }},
		{name: "type not listed", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Type", "application/json") }},
		{name: "short", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Length", "19") }},
		{name: "min_length", conf: `{"min_length":101}`, edit: func(*plugintest.Ctx) {}},
		{name: "already encoded", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Encoding", "br") }, vary: true},
		{name: "status 500", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.StatusV = 500 }, vary: true},
		{name: "status 304", conf: `{}`, edit: func(c *plugintest.Ctx) { c.StatusV = 304 }},
		{name: "head", conf: `{}`, edit: func(c *plugintest.Ctx) { c.MethodV = "HEAD" }},
		{name: "via", conf: `{}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Via", "1.1 proxy") }},
		{name: "http/1.0", conf: `{"vary":true}`, edit: func(*plugintest.Ctx) {}, proto: "HTTP/1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := compile(t, tc.conf)
			c := request()
			tc.edit(c)
			in := strings.Repeat("x", 100)
			out := run(g, protoCtx{c, tc.proto}, in)
			if string(out) != in {
				t.Fatalf("body changed: %q", out)
			}
			if ce := c.RespHdr.Get("Content-Encoding"); ce == "gzip" {
				t.Fatal("Content-Encoding: gzip set")
			}
			if got := c.RespHdr.Get("Vary") == "Accept-Encoding"; got != tc.vary {
				t.Fatalf("Vary %v, want %v", c.RespHdr["Vary"], tc.vary)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		edit       func(c *plugintest.Ctx)
		proto      string
	}{
		{name: "types *", conf: `{"types":"*"}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Type", "image/svg+xml") }},
		{name: "listed type", conf: `{"types":["text/plain","application/json"]}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Type", "application/json") }},
		{name: "unknown length", conf: `{}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Del("Content-Length") }},
		{name: "status 404", conf: `{}`, edit: func(c *plugintest.Ctx) { c.StatusV = 404 }},
		{name: "q=0.5", conf: `{}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Accept-Encoding", "br;q=1, GZIP;q=0.5") }},
		{name: "http/1.0 allowed", conf: `{"http_version":1.0}`, edit: func(*plugintest.Ctx) {}, proto: "HTTP/1.0"},
		{name: "http/2", conf: `{}`, edit: func(*plugintest.Ctx) {}, proto: "HTTP/2.0"},
		{name: "comp_level 9", conf: `{"comp_level":9,"buffers":{"number":4,"size":8192}}`, edit: func(*plugintest.Ctx) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := compile(t, tc.conf)
			c := request()
			tc.edit(c)
			in := strings.Repeat("abc", 40)
			out := run(g, protoCtx{c, tc.proto}, in)
			if c.RespHdr.Get("Content-Encoding") != "gzip" {
				t.Fatalf("not compressed, headers %v", c.RespHdr)
			}
			if got := gunzip(t, out); got != in {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestVaryAdded(t *testing.T) {
	g := compile(t, `{"vary":true}`)
	c := request()
	c.RespHdr.Set("Vary", "Origin")
	run(g, c, "x")
	if got := c.RespHdr.Values("Vary"); len(got) != 2 || got[1] != "Accept-Encoding" {
		t.Fatalf("Vary %v", got)
	}
}

func TestETag(t *testing.T) {
	for in, want := range map[string]string{`"a"`: `W/"a"`, `W/"a"`: `W/"a"`, `a`: ``} {
		c := request()
		c.RespHdr.Set("ETag", in)
		run(compile(t, `{}`), c, "x")
		if got := c.RespHdr.Get("ETag"); got != want {
			t.Errorf("ETag %s: got %q, want %q", in, got, want)
		}
	}
}

// A streamed chunk costs no allocation once the request's buffers have grown.
func TestChunkAllocs(t *testing.T) {
	g := compile(t, `{}`)
	c := request()
	g.HeaderFilter(c)
	chunk := []byte(strings.Repeat("some streamed text ", 50))
	g.BodyFilter(c, chunk, false)
	if n := testing.AllocsPerRun(100, func() { g.BodyFilter(c, chunk, false) }); n != 0 {
		t.Fatalf("%v allocations per chunk", n)
	}
}

func BenchmarkCompress4K(b *testing.B) {
	g := compile(b, `{}`)
	chunk := []byte(strings.Repeat("<p>some html text</p>\n", 200))[:4096]
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		c := request()
		g.HeaderFilter(c)
		g.BodyFilter(c, chunk, true)
		g.Log(c)
	}
}
