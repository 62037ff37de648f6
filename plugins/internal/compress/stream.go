package compress

import (
	"io"
	"sync"

	"github.com/sluicegw/sluice/plugin"
)

// Encoder is a streaming compressor writing into the stream it was made for; *gzip.Writer
// and *brotli.Writer both fit.
type Encoder interface {
	io.WriteCloser
	Flush() error
	Reset(dst io.Writer)
}

// Pool reuses per-request encoders of one configuration, so an encoder's large tables are
// reused across requests instead of allocated for each.
type Pool struct {
	p sync.Pool // *stream
}

// NewPool returns a Pool whose encoders come from newEncoder, given the stream to write into.
func NewPool(newEncoder func(dst io.Writer) Encoder) *Pool {
	p := &Pool{}
	p.p.New = func() any {
		st := &stream{}
		st.enc = newEncoder(st)
		return st
	}
	return p
}

// stream is one response being compressed: the encoder appends to out, which Encode hands on
// and refills for each chunk.
type stream struct {
	enc      Encoder
	out      []byte
	finished bool // the encoder was closed
}

func (st *stream) Write(p []byte) (int, error) {
	st.out = append(st.out, p...)
	return len(p), nil
}

// maxPooledOut bounds the output buffer kept for reuse; bigger ones are left to the GC.
const maxPooledOut = 1 << 20

// Start takes an encoder for this response and keeps it on c under key (the plugin instance);
// its output buffer starts with at least bufSize bytes of capacity.
func (p *Pool) Start(c plugin.Ctx, key any, bufSize int) {
	st := p.p.Get().(*stream)
	if cap(st.out) < bufSize {
		st.out = make([]byte, 0, bufSize)
	}
	st.enc.Reset(st)
	c.Set(key, st)
}

// Encode compresses each chunk and flushes it, so a streamed response stays streamed; the
// call with eof ends the stream. Without a Start under key the chunk passes through. The bytes
// returned stay valid until the next call (or, for the last, until Release).
func Encode(c plugin.Ctx, key any, chunk []byte, eof bool) []byte {
	st, _ := c.Get(key).(*stream)
	if st == nil || st.finished {
		return chunk
	}
	st.out = st.out[:0]
	if len(chunk) > 0 {
		_, _ = st.enc.Write(chunk) // writes to st, which never fails
		if !eof {
			_ = st.enc.Flush()
		}
	}
	if eof {
		_ = st.enc.Close()
		st.finished = true
	}
	return st.out
}

// Release returns the response's encoder, if it took one, to the pool: call it once the last
// output has been handed on (the log phase).
func (p *Pool) Release(c plugin.Ctx, key any) {
	st, _ := c.Get(key).(*stream)
	if st == nil {
		return
	}
	c.Set(key, nil)
	if cap(st.out) > maxPooledOut {
		st.out = nil
	}
	st.out, st.finished = st.out[:0], false
	p.p.Put(st)
}
