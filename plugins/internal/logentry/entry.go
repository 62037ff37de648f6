package logentry

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/andybalholm/brotli"

	"github.com/sluicegw/sluice/plugin"
)

// Entry is one request's log record. It owns its data: a logger may keep it after the log
// phase and encode it on another goroutine.
type Entry struct {
	// Default is APISIX's default entry; nil when a log_format is in effect.
	Default *Default
	// Fields is the log_format entry, or the log_format_extra keys added to Default.
	Fields []Field
	// Host is the request's $host (syslog's HOSTNAME).
	Host string
	// Time is when the entry was built (the log phase).
	Time time.Time
}

// Field is one key of a custom entry. Value is a string, a json.RawMessage literal, or a
// []Field object.
type Field struct {
	Key   string
	Value any
}

// Default is log-util's get_full_log.
type Default struct {
	Request         Request   `json:"request"`
	Response        Response  `json:"response"`
	Server          Server    `json:"server"`
	Upstream        string    `json:"upstream,omitempty"`
	ServiceID       string    `json:"service_id"`
	RouteID         string    `json:"route_id,omitempty"`
	Consumer        *Consumer `json:"consumer,omitempty"`
	ClientIP        string    `json:"client_ip"`
	StartTime       int64     `json:"start_time"` // ms since the epoch
	Latency         float64   `json:"latency"`    // ms
	UpstreamLatency *int64    `json:"upstream_latency,omitempty"`
	APISIXLatency   float64   `json:"apisix_latency"`
}

type Request struct {
	URL         string         `json:"url"`
	URI         string         `json:"uri"`
	Method      string         `json:"method"`
	Headers     map[string]any `json:"headers"`
	Querystring map[string]any `json:"querystring"`
	Size        int64          `json:"size"`
	Body        *string        `json:"body,omitempty"`
}

type Response struct {
	Status  int            `json:"status"`
	Headers map[string]any `json:"headers"`
	Size    int64          `json:"size"`
	Body    *string        `json:"body,omitempty"`
}

type Server struct {
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
}

type Consumer struct {
	Username string `json:"username"`
}

var (
	varRequestURI = plugin.ParseVar("request_uri")
	varServerPort = plugin.ParseVar("server_port")
	varQuery      = plugin.ParseVar("query_string")
)

// commonRespHeaders is what the default entry reads from a Ctx without
// plugin.RespHeaderVisitor.
var commonRespHeaders = []string{
	"content-type", "content-length", "content-encoding", "transfer-encoding", "connection",
	"server", "date", "location", "cache-control", "etag", "last-modified", "vary",
	"set-cookie", "x-request-id", "access-control-allow-origin",
}

func (b *Builder) full(c plugin.Ctx) *Default {
	now := time.Now()
	start := c.StartTime()
	scheme := c.Scheme()
	host := string(c.Host())
	reqURI, _ := lookupString(c, &varRequestURI)
	port, _ := lookupString(c, &varServerPort)
	d := &Default{
		Request: Request{
			URL:         scheme + "://" + host + ":" + port + reqURI,
			URI:         reqURI,
			Method:      string(c.Method()),
			Headers:     map[string]any{},
			Querystring: map[string]any{},
			Size:        c.RequestSize(),
		},
		Response: Response{Status: c.Status(), Headers: map[string]any{}, Size: c.ResponseSize()},
		Server:   Server{Hostname: b.hostname, Version: b.version},
		Upstream: c.UpstreamAddr(),
		RouteID:  c.RouteID(),
		ClientIP: c.RemoteAddr().String(),
	}
	c.VisitHeaders(func(name, value []byte) { addHeader(d.Request.Headers, name, value) })
	if v, ok := c.(plugin.RespHeaderVisitor); ok {
		v.VisitRespHeaders(func(name, value []byte) { addHeader(d.Response.Headers, name, value) })
	} else {
		for _, h := range commonRespHeaders {
			if v, ok := c.RespHeader(h); ok {
				d.Response.Headers[h] = string(v)
			}
		}
	}
	if q, ok := c.Lookup(&varQuery); ok && len(q) > 0 {
		parseQuery(d.Request.Querystring, string(q))
	}
	if d.RouteID == "" {
		// No route matched: APISIX logs the host as service_id.
		d.ServiceID, d.RouteID = host, b.noMatch
	} else {
		d.ServiceID = c.ServiceID()
	}
	if cons := c.Consumer(); cons != nil {
		d.Consumer = &Consumer{Username: cons.Username}
	}
	if !start.IsZero() {
		d.StartTime = start.UnixMilli()
		d.Latency = float64(now.Sub(start).Microseconds()) / 1000
	}
	d.APISIXLatency = d.Latency
	if ul := c.UpstreamLatency(); ul >= 0 {
		ms := ul.Milliseconds() // $upstream_response_time has millisecond resolution
		d.UpstreamLatency = &ms
		d.APISIXLatency = max(d.Latency-float64(ms), 0)
	}
	if b.reqBody && (b.reqExpr == nil || b.reqExpr.Eval(c)) {
		if s, ok := b.reqBodyText(c); ok {
			d.Request.Body = &s
		}
	}
	if b.respBody {
		if rc, _ := c.Get(b.respKey).(*respCapture); rc != nil && rc.on {
			body := decodeBody(rc.body, d.Response.Headers["content-encoding"], b.respMax)
			s := string(body)
			d.Response.Body = &s
		}
	}
	return d
}

// addHeader records a header under its lower-case name; a repeated one becomes an array.
func addHeader(m map[string]any, name, value []byte) {
	k := strings.ToLower(string(name))
	v := string(value)
	switch old := m[k].(type) {
	case nil:
		m[k] = v
	case string:
		m[k] = []string{old, v}
	case []string:
		m[k] = append(old, v)
	}
}

// parseQuery is ngx.req.get_uri_args: repeated keys become arrays, a key without "=" is true.
func parseQuery(m map[string]any, q string) {
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		k, v, hasEq := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		var val any = true
		if hasEq {
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			val = v
		}
		switch old := m[k].(type) {
		case nil:
			m[k] = val
		case []any:
			m[k] = append(old, val)
		default:
			m[k] = []any{old, val}
		}
	}
}

// decodeBody undoes gzip or br so the log shows the body as the origin meant it (APISIX
// decodes these; other encodings are logged raw). The result keeps the max bytes bound.
func decodeBody(body []byte, encoding any, limit int) []byte {
	enc, _ := encoding.(string)
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return body
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		return body
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)))
	if len(out) == 0 && err != nil {
		return body
	}
	return out
}

// AppendJSON appends the entry as one JSON object.
func (e *Entry) AppendJSON(dst []byte) []byte {
	if e.Default == nil {
		return appendFields(dst, e.Fields)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e.Default); err != nil {
		return append(dst, "{}"...)
	}
	obj := bytes.TrimRight(buf.Bytes(), "\n")
	if len(e.Fields) == 0 {
		return append(dst, obj...)
	}
	dst = append(dst, obj[:len(obj)-1]...) // reopen the object for the extra keys
	for _, f := range e.Fields {
		dst = append(dst, ',')
		dst = appendField(dst, f)
	}
	return append(dst, '}')
}

// MarshalJSON encodes the entry as AppendJSON does.
func (e *Entry) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendArray appends entries as a JSON array (the wire form of a batch).
func AppendArray(dst []byte, entries []*Entry) []byte {
	dst = append(dst, '[')
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = e.AppendJSON(dst)
	}
	return append(dst, ']')
}

func appendFields(dst []byte, fs []Field) []byte {
	dst = append(dst, '{')
	for i, f := range fs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendField(dst, f)
	}
	return append(dst, '}')
}

func appendField(dst []byte, f Field) []byte {
	dst = AppendString(dst, f.Key)
	dst = append(dst, ':')
	switch v := f.Value.(type) {
	case string:
		return AppendString(dst, v)
	case json.RawMessage:
		return append(dst, v...)
	case []Field:
		return appendFields(dst, v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return append(dst, "null"...)
		}
		return append(dst, b...)
	}
}

// AppendString appends s as a JSON string, escaping what JSON requires (no HTML escaping,
// invalid UTF-8 replaced), as encoding/json with SetEscapeHTML(false) does.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
