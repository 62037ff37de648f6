package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"io"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

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

// options decodes a conf's shared fields as the plugins do.
func options(t *testing.T, raw string) Options {
	t.Helper()
	var c struct {
		Types       json.RawMessage `json:"types"`
		MinLength   *int64          `json:"min_length"`
		HTTPVersion *float64        `json:"http_version"`
		Vary        bool            `json:"vary"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	return Options{Types: c.Types, MinLength: c.MinLength, HTTPVersion: c.HTTPVersion, Vary: c.Vary}
}

func compile(t *testing.T, raw string) Conf {
	t.Helper()
	conf, err := options(t, raw).Compile()
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func TestCompile(t *testing.T) {
	conf := compile(t, `{}`)
	if len(conf.Types) != 1 || string(conf.Types[0]) != "text/html" || conf.MinLength != 20 ||
		conf.HTTPVersion != 11 || conf.Vary {
		t.Fatalf("defaults %+v", conf)
	}
	conf = compile(t, `{"types":"*","min_length":0,"http_version":1.0,"vary":true}`)
	if conf.Types != nil || conf.MinLength != 0 || conf.HTTPVersion != 10 || !conf.Vary {
		t.Fatalf("set %+v", conf)
	}
	for _, raw := range []string{`{"types":"text/html"}`, `{"types":[1]}`} {
		if _, err := options(t, raw).Compile(); err == nil {
			t.Errorf("%s: no error", raw)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		name, conf, ct, cl, proto string
		want                      bool
	}{
		{name: "listed", conf: `{}`, ct: "text/html; charset=utf-8", cl: "100", want: true},
		{name: "no content-type", conf: `{}`, cl: "100"},
		{name: "not listed", conf: `{}`, ct: "text/plain", cl: "100"},
		{name: "prefix only", conf: `{"types":["text/htm"]}`, ct: "text/html", cl: "100"},
		{name: "any type", conf: `{"types":"*"}`, ct: "font/woff2", cl: "100", want: true},
		{name: "short", conf: `{}`, ct: "text/html", cl: "19"},
		{name: "unknown length", conf: `{}`, ct: "text/html", want: true},
		{name: "invalid length", conf: `{}`, ct: "text/html", cl: "1x", want: true},
		{name: "http/1.0", conf: `{}`, ct: "text/html", proto: "HTTP/1.0"},
		{name: "http/1.0 allowed", conf: `{"http_version":1.0}`, ct: "text/html", proto: "HTTP/1.0", want: true},
		{name: "http/2", conf: `{"http_version":1.1}`, ct: "text/html", proto: "HTTP/2", want: true},
		{name: "odd protocol", conf: `{}`, ct: "text/html", proto: "SPDY", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := compile(t, tc.conf)
			c := plugintest.New()
			if tc.ct != "" {
				c.RespHdr.Set("Content-Type", tc.ct)
			}
			if tc.cl != "" {
				c.RespHdr.Set("Content-Length", tc.cl)
			}
			if got := conf.Matches(protoCtx{c, tc.proto}); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDropIdentityHeaders(t *testing.T) {
	for in, want := range map[string]string{`"a"`: `W/"a"`, `W/"a"`: `W/"a"`, `a`: ``, ``: ``} {
		c := plugintest.New()
		c.RespHdr.Set("Content-Length", "10")
		c.RespHdr.Set("Accept-Ranges", "bytes")
		if in != "" {
			c.RespHdr.Set("ETag", in)
		}
		DropIdentityHeaders(c)
		if got := c.RespHdr.Get("ETag"); got != want {
			t.Errorf("ETag %s: got %q, want %q", in, got, want)
		}
		if c.RespHdr.Get("Content-Length") != "" || c.RespHdr.Get("Accept-Ranges") != "" {
			t.Errorf("headers %v", c.RespHdr)
		}
	}
}

func TestPool(t *testing.T) {
	p := NewPool(func(dst io.Writer) Encoder { return stdgzip.NewWriter(dst) })
	key := new(int)
	for round := 0; round < 3; round++ { // a released stream is reused cleanly
		c := plugintest.New()
		p.Start(c, key, 64)
		var out []byte
		out = append(out, Encode(c, key, []byte("hello "), false)...)
		out = append(out, Encode(c, key, []byte("world"), true)...)
		if got := Encode(c, key, []byte("late"), true); string(got) != "late" {
			t.Fatalf("after the end: %q", got)
		}
		p.Release(c, key)
		zr, err := stdgzip.NewReader(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := io.ReadAll(zr); err != nil || string(plain) != "hello world" {
			t.Fatalf("round %d: %q, %v", round, plain, err)
		}
	}
	c := plugintest.New() // never started: passes through, releases nothing
	if got := Encode(c, key, []byte("x"), true); string(got) != "x" {
		t.Fatalf("unstarted: %q", got)
	}
	p.Release(c, key)
}
