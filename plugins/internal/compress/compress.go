// Package compress holds what the gzip and brotli plugins share: the conf fields and header
// checks APISIX applies to both, and the pooled per-request encoder that streams a body.
package compress

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sluicegw/sluice/plugin"
)

// Options are the conf fields gzip and brotli share, as decoded (nil: absent). The plugins
// decode their own conf structs, so json errors keep naming their fields as before.
type Options struct {
	Types       json.RawMessage
	MinLength   *int64
	HTTPVersion *float64
	Vary        bool
}

// Conf is Options compiled, with APISIX's defaults filled in.
type Conf struct {
	Types       [][]byte // nil: "*"
	MinLength   int64
	HTTPVersion int // tenths: 11 for HTTP/1.1
	Vary        bool
}

// Compile fills in APISIX's defaults: types ["text/html"], min_length 20, http_version 1.1.
func (o Options) Compile() (Conf, error) {
	c := Conf{MinLength: 20, HTTPVersion: 11, Vary: o.Vary}
	types, err := parseTypes(o.Types)
	if err != nil {
		return Conf{}, err
	}
	c.Types = types
	if o.MinLength != nil {
		c.MinLength = *o.MinLength
	}
	if o.HTTPVersion != nil {
		c.HTTPVersion = int(*o.HTTPVersion*10 + 0.5)
	}
	return c, nil
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

// Matches is APISIX's check shared by both plugins, in its order: the Content-Type is listed,
// the Content-Length (when known) reaches min_length, and the request's HTTP version reaches
// http_version. Vary is left to the caller, which adds it at different points.
func (conf *Conf) Matches(c plugin.Ctx) bool {
	ct, ok := c.RespHeader("Content-Type")
	if !ok || !typeMatches(conf.Types, ct) {
		return false
	}
	if cl, ok := contentLength(c); ok && cl < conf.MinLength {
		return false
	}
	return httpVersion(c) >= conf.HTTPVersion
}

// typeMatches compares the media type (the Content-Type before any ';') with the configured
// list exactly, as APISIX does; nil types is "*".
func typeMatches(types [][]byte, ct []byte) bool {
	if types == nil {
		return true
	}
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	for _, t := range types {
		if bytes.Equal(ct, t) {
			return true
		}
	}
	return false
}

// contentLength is the response's Content-Length, when it has a valid one.
func contentLength(c plugin.Ctx) (int64, bool) {
	v, ok := c.RespHeader("Content-Length")
	if !ok || len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, b := range v {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

var serverProtocol = plugin.Var{Kind: plugin.VarServerProtocol}

// httpVersion is the request's HTTP version in tenths (11 for HTTP/1.1, 20 for HTTP/2), as
// ngx.req.http_version reports it; 11 when the engine does not say.
func httpVersion(c plugin.Ctx) int {
	p, ok := c.Lookup(&serverProtocol)
	if !ok {
		return 11
	}
	v, ok := bytes.CutPrefix(p, []byte("HTTP/"))
	if !ok || len(v) == 0 || v[0] < '0' || v[0] > '9' {
		return 11
	}
	n := int(v[0]-'0') * 10
	if len(v) >= 3 && v[1] == '.' && v[2] >= '0' && v[2] <= '9' {
		n += int(v[2] - '0')
	}
	return n
}

// DropIdentityHeaders removes what describes the uncompressed body: Content-Length and
// Accept-Ranges go, and ETag is weakened. Content-Encoding is left to the caller.
func DropIdentityHeaders(c plugin.Ctx) {
	c.DelRespHeader("Content-Length")
	c.DelRespHeader("Accept-Ranges")
	weakenETag(c)
}

// weakenETag is nginx's ngx_http_weak_etag: a strong validator no longer holds for the
// re-encoded body, so "x" becomes W/"x" and an unquoted (invalid) one is dropped.
func weakenETag(c plugin.Ctx) {
	v, ok := c.RespHeader("ETag")
	switch {
	case !ok || bytes.HasPrefix(v, []byte("W/")):
	case len(v) > 0 && v[0] == '"':
		c.SetRespHeader("ETag", "W/"+string(v))
	default:
		c.DelRespHeader("ETag")
	}
}
