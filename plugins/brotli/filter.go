package brotli

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/compress"
)

type config struct {
	Types       json.RawMessage `json:"types"`
	MinLength   *int64          `json:"min_length"`
	Mode        *int            `json:"mode"`
	CompLevel   *int            `json:"comp_level"`
	LGWin       *int            `json:"lgwin"`
	LGBlock     *int            `json:"lgblock"`
	HTTPVersion *float64        `json:"http_version"`
	Vary        bool            `json:"vary"`
}

// Brotli is one compiled brotli conf.
type Brotli struct {
	conf compress.Conf
	pool *compress.Pool // encoders for these options
}

func newBrotli(raw json.RawMessage, _ plugin.Env) (any, error) {
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
	b := &Brotli{conf: conf}
	opts := brotli.WriterOptions{Quality: 6, LGWin: 19}
	if c.CompLevel != nil {
		opts.Quality = *c.CompLevel
	}
	if c.LGWin != nil {
		opts.LGWin = *c.LGWin // 0: the encoder picks it from the quality
	}
	if opts.Quality < brotli.BestSpeed || opts.Quality > brotli.BestCompression {
		return nil, fmt.Errorf("comp_level %d out of range 0-11", opts.Quality)
	}
	if opts.LGWin != 0 && (opts.LGWin < 10 || opts.LGWin > 24) {
		return nil, fmt.Errorf("lgwin %d not 0 or 10-24", opts.LGWin)
	}
	// mode and lgblock are validated by the schema; andybalholm/brotli chooses both itself
	// (generic mode, automatic block size), which changes the ratio at most, not the format.
	b.pool = poolFor(opts)
	return b, nil
}

// Encoders are pooled by their options, shared by every instance using them; the map is only
// touched when a conf is compiled, never on a request.
var (
	poolsMu sync.Mutex
	pools   = map[brotli.WriterOptions]*compress.Pool{}
)

func poolFor(opts brotli.WriterOptions) *compress.Pool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := pools[opts]
	if p == nil {
		p = compress.NewPool(func(dst io.Writer) compress.Encoder {
			return brotli.NewWriterOptions(dst, opts)
		})
		pools[opts] = p
	}
	return p
}

// HeaderFilter decides, as APISIX's header_filter does, whether this response is compressed.
func (b *Brotli) HeaderFilter(c plugin.Ctx) {
	if ae, ok := c.Header("Accept-Encoding"); !ok || !acceptsBrotli(ae) {
		return
	}
	if _, ok := c.RespHeader("Content-Encoding"); ok {
		return
	}
	if !b.conf.Matches(c) {
		return
	}
	if st := c.Status(); st < 200 || st == 204 || st == 304 {
		return // no body to encode (APISIX would still label it br)
	}
	if b.conf.Vary {
		c.AddRespHeader("Vary", "Accept-Encoding")
	}
	compress.DropIdentityHeaders(c)
	c.SetRespHeader("Content-Encoding", "br")
	if string(c.Method()) == "HEAD" {
		return // the headers a GET would get, no encoder for the absent body
	}
	b.pool.Start(c, b, 0)
}

// BodyFilter compresses each chunk and flushes it, so a streamed response stays streamed; the
// last call ends the stream. The bytes returned stay valid until the next call (or, for the
// last, until Log).
func (b *Brotli) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return compress.Encode(c, b, chunk, eof)
}

// Log returns the request's encoder to the pool: the last output has been handed on by now.
func (b *Brotli) Log(c plugin.Ctx) {
	b.pool.Release(c, b)
}

var (
	_ plugin.HeaderFilterer = (*Brotli)(nil)
	_ plugin.BodyFilterer   = (*Brotli)(nil)
	_ plugin.Logger         = (*Brotli)(nil)
)
