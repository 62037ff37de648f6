package gzip

import (
	"encoding/json"
	"fmt"
	"sync"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/sluicegw/sluice/plugin"
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
	types       [][]byte // nil: "*"
	minLength   int64
	httpVersion int // tenths: 11 for HTTP/1.1
	bufSize     int // initial capacity of a request's output buffer (buffers.size)
	vary        bool
	pool        *sync.Pool // *state for comp_level
}

func newGzip(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	g := &Gzip{minLength: 20, httpVersion: 11, bufSize: 4096, vary: c.Vary}
	types, err := parseTypes(c.Types)
	if err != nil {
		return nil, err
	}
	g.types = types
	if c.MinLength != nil {
		g.minLength = *c.MinLength
	}
	if c.HTTPVersion != nil {
		g.httpVersion = int(*c.HTTPVersion*10 + 0.5)
	}
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
	g.pool = &pools[level]
	return g, nil
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

// pools holds per-request compressors by level, so a writer's large tables are reused across
// requests instead of allocated for each.
var pools [kgzip.BestCompression + 1]sync.Pool

func init() {
	for level := kgzip.BestSpeed; level <= kgzip.BestCompression; level++ {
		pools[level].New = func() any {
			st := &state{}
			st.zw, _ = kgzip.NewWriterLevel(st, level) // level is in range
			return st
		}
	}
}

// state is one response being compressed: the writer appends to out, which the body filter
// hands on and refills for each chunk.
type state struct {
	zw       *kgzip.Writer
	out      []byte
	finished bool // the trailer was written
}

func (st *state) Write(p []byte) (int, error) {
	st.out = append(st.out, p...)
	return len(p), nil
}

// maxPooledOut bounds the output buffer kept for reuse; bigger ones are left to the GC.
const maxPooledOut = 1 << 20

// HeaderFilter decides, as APISIX's header_filter and then nginx's gzip filter do, whether
// this response is compressed.
func (g *Gzip) HeaderFilter(c plugin.Ctx) {
	// APISIX's own checks; passing them enables the gzip filter (and Vary)
	ct, ok := c.RespHeader("Content-Type")
	if !ok || !typeMatches(g.types, ct) {
		return
	}
	if cl, ok := contentLength(c); ok && cl < g.minLength {
		return
	}
	if httpVersion(c) < g.httpVersion {
		return
	}
	if g.vary {
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
	c.DelRespHeader("Content-Length")
	c.DelRespHeader("Accept-Ranges")
	weakenETag(c)
	st := g.pool.Get().(*state)
	if cap(st.out) < g.bufSize {
		st.out = make([]byte, 0, g.bufSize)
	}
	st.zw.Reset(st)
	c.Set(g, st)
}

// BodyFilter compresses each chunk and flushes it, so a streamed response stays streamed; the
// last call also writes the gzip trailer. The bytes returned stay valid until the next call
// (or, for the last, until Log).
func (g *Gzip) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	st, _ := c.Get(g).(*state)
	if st == nil || st.finished {
		return chunk
	}
	st.out = st.out[:0]
	if len(chunk) > 0 {
		_, _ = st.zw.Write(chunk) // writes to st, which never fails
		if !eof {
			_ = st.zw.Flush()
		}
	}
	if eof {
		_ = st.zw.Close()
		st.finished = true
	}
	return st.out
}

// Log returns the request's compressor to the pool: the last output has been handed on by now.
func (g *Gzip) Log(c plugin.Ctx) {
	st, _ := c.Get(g).(*state)
	if st == nil {
		return
	}
	c.Set(g, nil)
	if cap(st.out) > maxPooledOut {
		st.out = nil
	}
	st.out, st.finished = st.out[:0], false
	g.pool.Put(st)
}

var (
	_ plugin.HeaderFilterer = (*Gzip)(nil)
	_ plugin.BodyFilterer   = (*Gzip)(nil)
	_ plugin.Logger         = (*Gzip)(nil)
)
