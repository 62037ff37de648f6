// Package accesslog writes the gateway's own access log as APISIX configures it in
// nginx_config.http: enable_access_log, access_log (path), access_log_format (nginx variables),
// access_log_format_escape (default | json | none) and access_log_buffer. Lines are formatted
// from the request's plugin.Ctx once the response is done and buffered in shards, each written
// with one append-mode write, so no lock is shared by all requests; Reopen (SIGUSR1) follows a
// logrotate rename.
package accesslog

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// DefaultFormat is APISIX's default access_log_format.
const DefaultFormat = `$remote_addr - $remote_user [$time_local] $http_host "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $upstream_addr $upstream_status $upstream_response_time "$upstream_scheme://$upstream_host$upstream_uri"`

// DefaultBuffer is APISIX's access_log_buffer.
const DefaultBuffer = 16384

// Extra is implemented by a Ctx that knows what the format's upstream and body variables
// need beyond plugin.Ctx.
type Extra interface {
	BodyBytesSent() int64
	// UpstreamScheme, UpstreamHost and UpstreamURI describe the request sent to the node;
	// when none was sent they are APISIX's presets: "http", $http_host and "".
	UpstreamScheme() string
	UpstreamHost() []byte
	UpstreamURI() []byte
	// UpstreamStatuses is every try's status, "502, 200"; empty when none was tried.
	UpstreamStatuses() []byte
	// OriginalRequest is the request line's method and target as the client sent them.
	OriginalRequest() (method, target []byte)
	// RawRequestLine is the request line as received, for a request whose head could not be
	// parsed (nginx logs $request as it got it); nil otherwise.
	RawRequestLine() []byte
}

type escape uint8

const (
	escapeDefault escape = iota
	escapeJSON
	escapeNone
)

// Options configure a Log.
type Options struct {
	Path   string
	Format string // "" → DefaultFormat
	Escape string // default | json | none
	Buffer int    // bytes per shard before a write; 0 → DefaultBuffer
	// Flush is the longest a line waits in a buffer; 0 → 1 s.
	Flush time.Duration
}

// Log is an open access log.
type Log struct {
	segs   []segment
	esc    escape
	bufMax int
	path   string

	file   atomic.Pointer[os.File]
	shards []shard
	// full buffers go to the writer goroutine: a request never waits for the disk
	full chan *[]byte
	bufs sync.Pool // *[]byte of cap bufMax+slack
	stop chan struct{}
	done chan struct{}
	errs atomic.Int64 // failed writes

	clock atomic.Pointer[clockCache]
}

// clockCache is the current second formatted, shared by every line of that second.
type clockCache struct {
	sec        int64
	local, iso []byte
}

type shard struct {
	mu  sync.Mutex
	buf []byte
	_   [40]byte // keep neighbouring shards' locks off one cache line
}

// Open compiles the format and opens (creating) the file for appending.
func Open(o Options) (*Log, error) {
	if o.Format == "" {
		o.Format = DefaultFormat
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Flush <= 0 {
		o.Flush = time.Second
	}
	l := &Log{segs: compile(o.Format), bufMax: o.Buffer, path: o.Path,
		shards: make([]shard, 2*runtime.GOMAXPROCS(0)), full: make(chan *[]byte, 64),
		stop: make(chan struct{}), done: make(chan struct{})}
	l.bufs.New = func() any { b := make([]byte, 0, l.bufMax+1024); return &b }
	switch o.Escape {
	case "", "default":
	case "json":
		l.esc = escapeJSON
	case "none":
		l.esc = escapeNone
	default:
		return nil, fmt.Errorf("access_log_format_escape: %q is not default, json or none", o.Escape)
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	f, err := openFile(o.Path)
	if err != nil {
		return nil, err
	}
	l.file.Store(f)
	go l.flusher(o.Flush)
	return l, nil
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// Reopen flushes, then reopens the path (after logrotate moved the file away).
func (l *Log) Reopen() error {
	l.Flush()
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	if old := l.file.Swap(f); old != nil {
		_ = old.Close()
	}
	return nil
}

// Close flushes and closes the file.
func (l *Log) Close() error {
	close(l.stop)
	<-l.done
	l.Flush()
	if f := l.file.Swap(nil); f != nil {
		return f.Close()
	}
	return nil
}

func (l *Log) flusher(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			for {
				select {
				case b := <-l.full:
					l.write(b)
				default:
					return
				}
			}
		case b := <-l.full:
			l.write(b)
		case <-t.C:
			l.Flush()
		}
	}
}

// WriteErrors counts writes that failed (a full disk, a removed directory).
func (l *Log) WriteErrors() int64 { return l.errs.Load() }

// Flush writes every shard's buffered lines (buffers already handed to the writer goroutine
// are written by it).
func (l *Log) Flush() {
	for i := range l.shards {
		if b := l.take(&l.shards[i], 0); b != nil {
			l.write(b)
		}
	}
}

// take swaps sh's buffer for an empty one when it holds at least min bytes (and any bytes),
// and returns the full one; nil otherwise.
func (l *Log) take(sh *shard, min int) *[]byte {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.buf) == 0 || len(sh.buf) < min {
		return nil
	}
	nb := l.bufs.Get().(*[]byte)
	b := sh.buf
	sh.buf = (*nb)[:0]
	*nb = b
	return nb
}

// write hands b to the file in one append-mode write, so whole lines from different shards
// never interleave, and recycles it.
func (l *Log) write(b *[]byte) {
	if f := l.file.Load(); f != nil && len(*b) > 0 {
		if _, err := f.Write(*b); err != nil {
			l.errs.Add(1)
		}
	}
	*b = (*b)[:0]
	l.bufs.Put(b)
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Record formats c's line and buffers it; shardKey spreads concurrent requests over the
// shards (a connection id).
func (l *Log) Record(c plugin.Ctx, shardKey uint64) {
	bp := linePool.Get().(*[]byte)
	line := l.format((*bp)[:0], c)
	line = append(line, '\n')
	sh := &l.shards[shardKey%uint64(len(l.shards))]
	sh.mu.Lock()
	sh.buf = append(sh.buf, line...)
	full := len(sh.buf) >= l.bufMax
	sh.mu.Unlock()
	*bp = line
	linePool.Put(bp)
	if !full {
		return
	}
	if b := l.take(sh, l.bufMax); b != nil {
		select {
		case l.full <- b:
		default:
			l.write(b) // the writer is behind: this request pays for the write
		}
	}
}

// segment is a literal or a variable of the format.
type segment struct {
	lit  string
	kind varKind
	v    plugin.Var // kind varCtx
}

type varKind uint8

const (
	varLiteral varKind = iota
	varCtx             // resolved through plugin.Vars
	varRemoteUser
	varTimeLocal
	varTimeISO8601
	varMsec
	varRequest
	varStatus
	varBodyBytesSent
	varBytesSent
	varRequestLength
	varRequestTime
	varUpstreamAddr
	varUpstreamStatus
	varUpstreamResponseTime
	varUpstreamScheme
	varUpstreamHost
	varUpstreamURI
)

var specials = map[string]varKind{
	"remote_user": varRemoteUser, "time_local": varTimeLocal, "time_iso8601": varTimeISO8601,
	"msec": varMsec, "request": varRequest, "request_line": varRequest, "status": varStatus,
	"body_bytes_sent": varBodyBytesSent, "bytes_sent": varBytesSent, "request_length": varRequestLength,
	"request_time": varRequestTime, "upstream_addr": varUpstreamAddr, "upstream_status": varUpstreamStatus,
	"upstream_response_time": varUpstreamResponseTime, "apisix_upstream_response_time": varUpstreamResponseTime,
	"upstream_scheme": varUpstreamScheme, "upstream_host": varUpstreamHost, "upstream_uri": varUpstreamURI,
}

// compile splits an nginx log format into literals and variables ($name or ${name}).
func compile(format string) []segment {
	var segs []segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch != '$' || i+1 >= len(format) {
			lit.WriteByte(ch)
			continue
		}
		j, name := i+1, ""
		if format[j] == '{' {
			end := strings.IndexByte(format[j:], '}')
			if end < 0 {
				lit.WriteByte(ch)
				continue
			}
			name, i = format[j+1:j+end], j+end
		} else {
			for j < len(format) && isNameByte(format[j]) {
				j++
			}
			if j == i+1 {
				lit.WriteByte(ch)
				continue
			}
			name, i = format[i+1:j], j-1
		}
		flush()
		if k, ok := specials[name]; ok {
			segs = append(segs, segment{kind: k})
		} else {
			segs = append(segs, segment{kind: varCtx, v: plugin.ParseVar(name)})
		}
	}
	flush()
	return segs
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func (l *Log) format(dst []byte, c plugin.Ctx) []byte {
	ex, _ := c.(Extra)
	now := time.Now()
	for i := range l.segs {
		s := &l.segs[i]
		switch s.kind {
		case varLiteral:
			dst = append(dst, s.lit...)
		case varCtx:
			v, ok := c.Lookup(&s.v)
			dst = l.value(dst, v, ok)
		case varRemoteUser:
			u, ok := basicUser(c)
			dst = l.value(dst, u, ok)
		case varTimeLocal:
			dst = append(dst, l.clockAt(now).local...)
		case varTimeISO8601:
			dst = append(dst, l.clockAt(now).iso...)
		case varMsec:
			dst = appendSeconds(dst, now.UnixMilli())
		case varRequest:
			if ex != nil {
				if raw := ex.RawRequestLine(); raw != nil {
					dst = l.escaped(dst, raw)
					break
				}
				m, t := ex.OriginalRequest()
				dst = l.escaped(dst, m)
				dst = append(dst, ' ')
				dst = l.escaped(dst, t)
			} else {
				dst = l.escaped(dst, c.Method())
				dst = append(dst, ' ')
				dst = l.escaped(dst, c.RequestURI())
			}
			dst = append(dst, ' ')
			proto, _ := c.Lookup(&protoVar)
			dst = l.escaped(dst, proto)
		case varStatus:
			dst = strconv.AppendInt(dst, int64(c.Status()), 10)
		case varBodyBytesSent:
			if ex != nil {
				dst = strconv.AppendInt(dst, ex.BodyBytesSent(), 10)
			} else {
				dst = append(dst, '0')
			}
		case varBytesSent:
			dst = strconv.AppendInt(dst, c.ResponseSize(), 10)
		case varRequestLength:
			dst = strconv.AppendInt(dst, c.RequestSize(), 10)
		case varRequestTime:
			dst = appendSeconds(dst, now.Sub(c.StartTime()).Milliseconds())
		case varUpstreamAddr:
			if a := c.UpstreamAddr(); a != "" {
				dst = append(dst, a...)
			} else {
				dst = append(dst, '-')
			}
		case varUpstreamStatus:
			if ex != nil {
				if all := ex.UpstreamStatuses(); len(all) > 0 {
					dst = append(dst, all...) // every try, as nginx: "502, 200"
					break
				}
			}
			if st := c.UpstreamStatus(); st > 0 {
				dst = strconv.AppendInt(dst, int64(st), 10)
			} else {
				dst = append(dst, '-')
			}
		case varUpstreamResponseTime:
			if d := c.UpstreamLatency(); d >= 0 {
				dst = appendSeconds(dst, d.Milliseconds())
			} else {
				dst = append(dst, '-')
			}
		case varUpstreamScheme:
			if ex != nil {
				dst = append(dst, ex.UpstreamScheme()...)
			}
		case varUpstreamHost:
			if ex != nil {
				dst = l.escaped(dst, ex.UpstreamHost())
			}
		case varUpstreamURI:
			if ex != nil {
				dst = l.escaped(dst, ex.UpstreamURI())
			}
		}
	}
	return dst
}

var protoVar = plugin.ParseVar("server_protocol")

// value appends a variable's value as nginx does: an absent one is "-" with the default
// escaping and nothing with json or none; an empty one is nothing.
func (l *Log) value(dst, v []byte, ok bool) []byte {
	if !ok {
		if l.esc == escapeDefault {
			return append(dst, '-')
		}
		return dst
	}
	return l.escaped(dst, v)
}

// clockAt is now's second formatted for $time_local and $time_iso8601, computed once per
// second.
func (l *Log) clockAt(now time.Time) *clockCache {
	sec := now.Unix()
	if c := l.clock.Load(); c != nil && c.sec == sec {
		return c
	}
	c := &clockCache{sec: sec, local: now.AppendFormat(nil, "02/Jan/2006:15:04:05 -0700"),
		iso: now.AppendFormat(nil, "2006-01-02T15:04:05-07:00")}
	l.clock.Store(c)
	return c
}

// escaped appends v with nginx's escaping: default writes '"', '\\' and bytes outside
// printable ASCII as \xHH; json as a JSON string's content; none as is.
func (l *Log) escaped(dst, v []byte) []byte {
	switch l.esc {
	case escapeNone:
		return append(dst, v...)
	case escapeJSON:
		for _, b := range v {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			case b == '\t':
				dst = append(dst, '\\', 't')
			case b == '\b':
				dst = append(dst, '\\', 'b')
			case b == '\f':
				dst = append(dst, '\\', 'f')
			case b < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&15])
			default:
				dst = append(dst, b)
			}
		}
		return dst
	}
	for _, b := range v {
		if b == '"' || b == '\\' || b < 0x20 || b >= 0x7f {
			dst = append(dst, '\\', 'x', hexDigits[b>>4], hexDigits[b&15])
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

// appendSeconds appends ms as seconds with three decimals (nginx's $request_time).
func appendSeconds(dst []byte, ms int64) []byte {
	if ms < 0 {
		ms = 0
	}
	dst = strconv.AppendInt(dst, ms/1000, 10)
	frac := ms % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// basicUser is $remote_user: the user of a Basic Authorization header.
func basicUser(c plugin.Ctx) ([]byte, bool) {
	h, ok := c.Header("Authorization")
	if !ok || len(h) < 6 || !bytes.EqualFold(h[:6], []byte("basic ")) {
		return nil, false
	}
	var buf [256]byte
	enc := bytes.TrimSpace(h[6:])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return nil, false
	}
	n, err := base64.StdEncoding.Decode(buf[:], enc)
	if err != nil {
		return nil, false
	}
	user, _, _ := bytes.Cut(buf[:n], []byte{':'})
	return append([]byte(nil), user...), true
}
