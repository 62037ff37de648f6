package brotli

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/andybalholm/brotli"

	"github.com/sluicegw/sluice/plugin"
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
	types       [][]byte // nil: "*"
	minLength   int64
	httpVersion int // tenths: 11 for HTTP/1.1
	vary        bool
	pool        *sync.Pool // *state for these encoder options
}

func newBrotli(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	b := &Brotli{minLength: 20, httpVersion: 11, vary: c.Vary}
	types, err := parseTypes(c.Types)
	if err != nil {
		return nil, err
	}
	b.types = types
	if c.MinLength != nil {
		b.minLength = *c.MinLength
	}
	if c.HTTPVersion != nil {
		b.httpVersion = int(*c.HTTPVersion*10 + 0.5)
	}
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

// parseTypes reads `types`: an array of media types, or "*" (nil) for any. Absent is APISIX's
// default ["text/html"].
func parseTypes(raw json.RawMessage) ([][]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return [][]byte{[]byte("text/html")}, nil
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, fmt.Errorf("types: %q is not \"*\"", star)
		}
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("types: %w", err)
	}
	out := make([][]byte, len(list))
	for i, t := range list {
		out[i] = []byte(t)
	}
	return out, nil
}

// Encoders are pooled by their options, shared by every instance using them; the map is only
// touched when a conf is compiled, never on a request.
var (
	poolsMu sync.Mutex
	pools   = map[brotli.WriterOptions]*sync.Pool{}
)

func poolFor(opts brotli.WriterOptions) *sync.Pool {
	poolsMu.Lock()
	defer poolsMu.Unlock()
	p := pools[opts]
	if p == nil {
		p = &sync.Pool{New: func() any {
			st := &state{}
			st.bw = brotli.NewWriterOptions(st, opts)
			return st
		}}
		pools[opts] = p
	}
	return p
}

// state is one response being compressed: the writer appends to out, which the body filter
// hands on and refills for each chunk.
type state struct {
	bw       *brotli.Writer
	out      []byte
	finished bool // the last meta-block was written
}

func (st *state) Write(p []byte) (int, error) {
	st.out = append(st.out, p...)
	return len(p), nil
}

// maxPooledOut bounds the output buffer kept for reuse; bigger ones are left to the GC.
const maxPooledOut = 1 << 20

// HeaderFilter decides, as APISIX's header_filter does, whether this response is compressed.
func (b *Brotli) HeaderFilter(c plugin.Ctx) {
	if ae, ok := c.Header("Accept-Encoding"); !ok || !acceptsBrotli(ae) {
		return
	}
	if _, ok := c.RespHeader("Content-Encoding"); ok {
		return
	}
	ct, ok := c.RespHeader("Content-Type")
	if !ok || !typeMatches(b.types, ct) {
		return
	}
	if cl, ok := contentLength(c); ok && cl < b.minLength {
		return
	}
	if httpVersion(c) < b.httpVersion {
		return
	}
	if st := c.Status(); st < 200 || st == 204 || st == 304 {
		return // no body to encode (APISIX would still label it br)
	}
	if b.vary {
		c.AddRespHeader("Vary", "Accept-Encoding")
	}
	c.DelRespHeader("Content-Length")
	c.DelRespHeader("Accept-Ranges")
	weakenETag(c)
	c.SetRespHeader("Content-Encoding", "br")
	if string(c.Method()) == "HEAD" {
		return // the headers a GET would get, no encoder for the absent body
	}
	st := b.pool.Get().(*state)
	st.bw.Reset(st)
	c.Set(b, st)
}

// BodyFilter compresses each chunk and flushes it, so a streamed response stays streamed; the
// last call ends the stream. The bytes returned stay valid until the next call (or, for the
// last, until Log).
func (b *Brotli) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	st, _ := c.Get(b).(*state)
	if st == nil || st.finished {
		return chunk
	}
	st.out = st.out[:0]
	if len(chunk) > 0 {
		_, _ = st.bw.Write(chunk) // writes to st, which never fails
		if !eof {
			_ = st.bw.Flush()
		}
	}
	if eof {
		_ = st.bw.Close()
		st.finished = true
	}
	return st.out
}

// Log returns the request's encoder to the pool: the last output has been handed on by now.
func (b *Brotli) Log(c plugin.Ctx) {
	st, _ := c.Get(b).(*state)
	if st == nil {
		return
	}
	c.Set(b, nil)
	if cap(st.out) > maxPooledOut {
		st.out = nil
	}
	st.out, st.finished = st.out[:0], false
	b.pool.Put(st)
}

var (
	_ plugin.HeaderFilterer = (*Brotli)(nil)
	_ plugin.BodyFilterer   = (*Brotli)(nil)
	_ plugin.Logger         = (*Brotli)(nil)
)
