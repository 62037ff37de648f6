package gzip

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

// acceptsGzip reports whether Accept-Encoding lists gzip with a non-zero quality, as nginx's
// ngx_http_gzip_ok reads it (no "*" wildcard, a malformed q counts as 0).
func acceptsGzip(ae []byte) bool {
	for len(ae) > 0 {
		var tok []byte
		tok, ae, _ = bytes.Cut(ae, []byte(","))
		name, params, _ := bytes.Cut(tok, []byte(";"))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("gzip")) {
			return qualityPositive(params)
		}
	}
	return false
}

// qualityPositive reads the q parameter among ';'-separated params: absent means 1; otherwise
// it must be a valid qvalue (0-1, up to three decimals) above zero.
func qualityPositive(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte(";"))
		k, v, ok := bytes.Cut(p, []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || (v[0] != '0' && v[0] != '1') {
			return false
		}
		positive := v[0] == '1'
		rest := v[1:]
		if len(rest) > 0 {
			if rest[0] != '.' || len(rest) > 4 {
				return false
			}
			for _, d := range rest[1:] {
				if d < '0' || d > '9' || (positive && d != '0') {
					return false
				}
				positive = positive || d != '0'
			}
		}
		return positive
	}
	return true
}
