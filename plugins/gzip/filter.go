package gzip

import (
	"encoding/json"
	"fmt"
	"io"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/compress"
)

type config struct {
	Types       json.RawMessage `json:"types"`
	MinLength   *int64          `json:"min_length"`
	CompLevel   *int            `json:"comp_level"`
	HTTPVersion *float64        `json:"http_version"`
	Buffers     *struct {
		Number *int `json:"number"`
		Size   *int `json:"size"`
	} `json:"buffers"`
	Vary bool `json:"vary"`
}

// Gzip is one compiled gzip conf.
type Gzip struct {
	conf    compress.Conf
	bufSize int            // initial capacity of a request's output buffer (buffers.size)
	pool    *compress.Pool // encoders for comp_level
}

func newGzip(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	conf, err := compress.Options{
		Types: c.Types, MinLength: c.MinLength, HTTPVersion: c.HTTPVersion, Vary: c.Vary,
	}.Compile()
	if err != nil {
		return nil, err
	}
	g := &Gzip{conf: conf, bufSize: 4096}
	if c.Buffers != nil && c.Buffers.Size != nil {
		g.bufSize = *c.Buffers.Size
	}
	level := 1
	if c.CompLevel != nil {
		level = *c.CompLevel
	}
	if level < kgzip.BestSpeed || level > kgzip.BestCompression {
		return nil, fmt.Errorf("comp_level %d out of range 1-9", level)
	}
	g.pool = pools[level]
	return g, nil
}

// pools holds the per-request compressors by level.
var pools [kgzip.BestCompression + 1]*compress.Pool

func init() {
	for level := kgzip.BestSpeed; level <= kgzip.BestCompression; level++ {
		pools[level] = compress.NewPool(func(dst io.Writer) compress.Encoder {
			zw, _ := kgzip.NewWriterLevel(dst, level) // level is in range
			return zw
		})
	}
}

// HeaderFilter decides, as APISIX's header_filter and then nginx's gzip filter do, whether
// this response is compressed.
func (g *Gzip) HeaderFilter(c plugin.Ctx) {
	// APISIX's own checks; passing them enables the gzip filter (and Vary)
	if !g.conf.Matches(c) {
		return
	}
	if g.conf.Vary {
		c.AddRespHeader("Vary", "Accept-Encoding")
	}
	// nginx's gzip filter (gzip_proxied off)
	switch c.Status() {
	case 200, 403, 404:
	default:
		return
	}
	if ce, ok := c.RespHeader("Content-Encoding"); ok && len(ce) > 0 {
		return
	}
	if string(c.Method()) == "HEAD" {
		return
	}
	if _, via := c.Header("Via"); via {
		return
	}
	if ae, ok := c.Header("Accept-Encoding"); !ok || !acceptsGzip(ae) {
		return
	}
	c.SetRespHeader("Content-Encoding", "gzip")
	compress.DropIdentityHeaders(c)
	g.pool.Start(c, g, g.bufSize)
}

// BodyFilter compresses each chunk and flushes it, so a streamed response stays streamed; the
// last call also writes the gzip trailer. The bytes returned stay valid until the next call
// (or, for the last, until Log).
func (g *Gzip) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return compress.Encode(c, g, chunk, eof)
}

// Log returns the request's compressor to the pool: the last output has been handed on by now.
func (g *Gzip) Log(c plugin.Ctx) {
	g.pool.Release(c, g)
}

var (
	_ plugin.HeaderFilterer = (*Gzip)(nil)
	_ plugin.BodyFilterer   = (*Gzip)(nil)
	_ plugin.Logger         = (*Gzip)(nil)
)
