package brotli

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t testing.TB, conf string) *Brotli {
	t.Helper()
	d, ok := plugin.Lookup("brotli")
	if !ok || d.New == nil {
		t.Fatal("brotli not registered with New")
	}
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*Brotli)
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

// request is an HTML response of 100 bytes to a client accepting br.
func request() *plugintest.Ctx {
	c := plugintest.New()
	c.ReqHeader.Set("Accept-Encoding", "gzip, br")
	c.RespHdr.Set("Content-Type", "text/html; charset=utf-8")
	c.RespHdr.Set("Content-Length", "100")
	return c
}

// run passes chunks through the header and body filters and the log phase, as the runtime does.
func run(b *Brotli, c plugin.Ctx, chunks ...string) []byte {
	b.HeaderFilter(c)
	var out []byte
	for i, ch := range chunks {
		out = append(out, b.BodyFilter(c, []byte(ch), i == len(chunks)-1)...)
	}
	b.Log(c)
	return out
}

func unbrotli(t *testing.T, b []byte) string {
	t.Helper()
	plain, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

func TestCompresses(t *testing.T) {
	b := compile(t, `{"vary":true}`)
	body := strings.Repeat("hello world ", 10)
	for round := 0; round < 3; round++ { // the pooled encoder is reused cleanly
		c := request()
		c.RespHdr.Set("ETag", `"abc"`)
		out := run(b, c, body[:50], body[50:100], body[100:])
		if got := unbrotli(t, out); got != body {
			t.Fatalf("round %d: got %q", round, got)
		}
		h := c.RespHdr
		if h.Get("Content-Encoding") != "br" || h.Get("Content-Length") != "" ||
			h.Get("ETag") != `W/"abc"` || h.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("round %d: headers %v", round, h)
		}
	}
}

// Each chunk is flushed: what the filter returned for the first chunk decodes to it before
// the rest of the body exists.
func TestStreams(t *testing.T) {
	b := compile(t, `{}`)
	c := request()
	c.RespHdr.Del("Content-Length")
	b.HeaderFilter(c)
	first := append([]byte(nil), b.BodyFilter(c, []byte("data: one\n\n"), false)...)
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(brotli.NewReader(bytes.NewReader(first)), buf, len("data: one\n\n"))
	if string(buf[:n]) != "data: one\n\n" {
		t.Fatalf("first chunk decodes to %q", buf[:n])
	}
	first = append(first, b.BodyFilter(c, []byte("data: two\n\n"), false)...)
	first = append(first, b.BodyFilter(c, nil, true)...)
	b.Log(c)
	if got := unbrotli(t, first); got != "data: one\n\ndata: two\n\n" {
		t.Fatalf("got %q", got)
	}
}

func TestAcceptEncoding(t *testing.T) {
	for ae, want := range map[string]bool{
		"br": true, "*": true, "gzip, br": true, "br;q=0.5": true, "gzip, *": true,
		"": false, "gzip": false, "br;q=0": false, "gzip, br;q=0.0": false, "*;q=0": false,
		"brotli": false, "br;q=0, *": true,
	} {
		if got := acceptsBrotli([]byte(ae)); got != want {
			t.Errorf("%q: got %v, want %v", ae, got, want)
		}
	}
}

func TestSkips(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		edit       func(c *plugintest.Ctx)
		proto      string
	}{
		{name: "no accept-encoding", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Del("Accept-Encoding") }},
		{name: "br;q=0", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.ReqHeader.Set("Accept-Encoding", "br;q=0") }},
		{name: "already encoded", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Encoding", "gzip") }},
		{name: "no content-type", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Del("Content-Type") }},
		{name: "type not listed", conf: `{"vary":true,"types":["text/plain"]}`, edit: func(*plugintest.Ctx) {}},
		{name: "short", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Length", "19") }},
		{name: "http/1.0", conf: `{"vary":true}`, edit: func(*plugintest.Ctx) {}, proto: "HTTP/1.0"},
		{name: "304", conf: `{"vary":true}`, edit: func(c *plugintest.Ctx) { c.StatusV = 304 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := compile(t, tc.conf)
			c := request()
			tc.edit(c)
			in := strings.Repeat("x", 100)
			out := run(b, protoCtx{c, tc.proto}, in)
			if string(out) != in {
				t.Fatalf("body changed: %q", out)
			}
			if c.RespHdr.Get("Content-Encoding") == "br" || c.RespHdr.Get("Vary") != "" {
				t.Fatalf("headers %v", c.RespHdr)
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
		{name: "types *", conf: `{"types":"*"}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Set("Content-Type", "font/woff2") }},
		{name: "status 500", conf: `{}`, edit: func(c *plugintest.Ctx) { c.StatusV = 500 }},
		{name: "unknown length", conf: `{}`, edit: func(c *plugintest.Ctx) { c.RespHdr.Del("Content-Length") }},
		{name: "http/1.0 allowed", conf: `{"http_version":1.0}`, edit: func(*plugintest.Ctx) {}, proto: "HTTP/1.0"},
		{name: "quality 0, auto window", conf: `{"comp_level":0,"lgwin":0}`, edit: func(*plugintest.Ctx) {}},
		{name: "quality 11", conf: `{"comp_level":11,"lgwin":24,"lgblock":24,"mode":1}`, edit: func(*plugintest.Ctx) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := compile(t, tc.conf)
			c := request()
			tc.edit(c)
			in := strings.Repeat("abc", 40)
			out := run(b, protoCtx{c, tc.proto}, in)
			if c.RespHdr.Get("Content-Encoding") != "br" {
				t.Fatalf("not compressed, headers %v", c.RespHdr)
			}
			if got := unbrotli(t, out); got != in {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// HEAD gets the headers a GET would, and no encoder.
func TestHead(t *testing.T) {
	b := compile(t, `{}`)
	c := request()
	c.MethodV = "HEAD"
	if out := run(b, c, ""); len(out) != 0 {
		t.Fatalf("body %q", out)
	}
	if c.RespHdr.Get("Content-Encoding") != "br" {
		t.Fatalf("headers %v", c.RespHdr)
	}
}

// A streamed chunk costs no allocation once the request's buffers have grown.
func TestChunkAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not stable under the race detector")
	}
	b := compile(t, `{}`)
	c := request()
	b.HeaderFilter(c)
	chunk := []byte(strings.Repeat("some streamed text ", 50))
	b.BodyFilter(c, chunk, false)
	b.BodyFilter(c, chunk, false)
	if n := testing.AllocsPerRun(100, func() { b.BodyFilter(c, chunk, false) }); n != 0 {
		t.Fatalf("%v allocations per chunk", n)
	}
}

func BenchmarkCompress4K(bm *testing.B) {
	b := compile(bm, `{}`)
	chunk := []byte(strings.Repeat("<p>some html text</p>\n", 200))[:4096]
	bm.SetBytes(int64(len(chunk)))
	bm.ReportAllocs()
	for bm.Loop() {
		c := request()
		b.HeaderFilter(c)
		b.BodyFilter(c, chunk, true)
		b.Log(c)
	}
}
