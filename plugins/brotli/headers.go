package brotli

import (
	"bytes"

	"github.com/sluicegw/sluice/plugin"
)

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

// acceptsBrotli is APISIX's check: Accept-Encoding is "*" or "br", or lists br or * without
// a zero quality ("br;q=0", "br;q=0.0").
func acceptsBrotli(ae []byte) bool {
	for len(ae) > 0 {
		var tok []byte
		tok, ae, _ = bytes.Cut(ae, []byte(","))
		name, params, _ := bytes.Cut(tok, []byte(";"))
		name = bytes.TrimSpace(name)
		if (bytes.EqualFold(name, []byte("br")) || string(name) == "*") && !qualityZero(params) {
			return true
		}
	}
	return false
}

// qualityZero reports a q parameter of zero among ';'-separated params.
func qualityZero(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		k, v, ok := bytes.Cut(p, []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '0' {
			return false
		}
		if len(v) == 1 {
			return true
		}
		if v[1] != '.' {
			return false
		}
		for _, d := range v[2:] {
			if d != '0' {
				return false
			}
		}
		return true
	}
	return false
}
