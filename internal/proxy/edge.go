package proxy

import (
	"bytes"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"
)

// The strict edge (reference/peers.md §4): ambiguous or malformed HTTP/1.1 framing is answered
// and the connection closed before routing, never forwarded. fasthttp already rejects much of
// the table while parsing (duplicate or non-numeric Content-Length, Transfer-Encoding lists,
// TE on HTTP/1.0, repeated Host, control characters in the target, whitespace before a
// colon); checkRequest adds what it accepts too leniently. edge_test.go sends every case of
// the table as raw bytes.

// handleParseError answers a request fasthttp could not parse; the server closes the
// connection after it.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	writeErrorPage(ctx, parseErrorStatus(ctx, err))
}

// parseErrorStatus maps a fasthttp parse error to nginx's answer. fasthttp's messages start
// with a fixed prefix naming the failure; the request bytes follow it and are not matched.
func parseErrorStatus(ctx *fasthttp.RequestCtx, err error) int {
	const hdrErr = "error when reading request headers: "
	msg := err.Error()
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		// The head did not fit the buffer: the request line (414) or the fields (431).
		if tc, ok := ctx.Conn().(*trackedConn); ok && !tc.sawLF {
			return fasthttp.StatusRequestURITooLong
		}
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		return fasthttp.StatusBadRequest // repeated, or on HTTP/1.0
	case strings.HasPrefix(msg, hdrErr+"unsupported transfer-encoding: "):
		return fasthttp.StatusNotImplemented // nginx: identity, lists, gzip → 501
	case strings.HasPrefix(msg, hdrErr+"unsupported http version "):
		v := strings.TrimPrefix(msg, hdrErr+"unsupported http version ")
		if len(v) > 6 && strings.HasPrefix(v, `"HTTP/`) && v[6] >= '2' && v[6] <= '9' &&
			len(v) > 9 && v[7] == '.' && v[9] == '"' {
			return fasthttp.StatusHTTPVersionNotSupported
		}
	case strings.Contains(msg, "timeout"):
		return fasthttp.StatusRequestTimeout
	case strings.Contains(msg, "body size exceeds"):
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusBadRequest
}

// checkRequest returns the status for a request fasthttp parsed but Sluice refuses, or 0 when
// it may be routed.
func checkRequest(h *fasthttp.RequestHeader) int {
	m := h.Method()
	for _, c := range m {
		if (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return fasthttp.StatusBadRequest // nginx takes upper-case methods only
		}
	}
	if string(m) == fasthttp.MethodTrace || string(m) == fasthttp.MethodConnect {
		return fasthttp.StatusMethodNotAllowed // nginx refuses both before any Lua runs
	}
	proto := h.Protocol()
	if len(proto) != 8 || string(proto[:5]) != "HTTP/" || proto[6] != '.' || !isDigit(proto[5]) || !isDigit(proto[7]) {
		return fasthttp.StatusBadRequest
	}
	if proto[5] != '1' {
		return fasthttp.StatusHTTPVersionNotSupported // HTTP/1.x only on this engine
	}
	if st := checkTarget(h.RequestURI()); st != 0 {
		return st
	}
	if h.IsHTTP11() && len(h.Host()) == 0 {
		return fasthttp.StatusBadRequest // RFC 9112 §3.2: HTTP/1.1 requires Host
	}
	if !validHost(h.Host()) {
		return fasthttp.StatusBadRequest
	}
	return checkRawHeaders(h.RawHeaders())
}

// checkTarget refuses what nginx's URI parser refuses: fragments, bad percent escapes,
// spaces and control characters, and targets that are neither origin- nor absolute-form.
func checkTarget(t []byte) int {
	if len(t) > 0 && t[0] != '/' {
		lower := t[:min(len(t), 8)]
		if !bytes.HasPrefix(bytes.ToLower(lower), []byte("http://")) && !bytes.HasPrefix(bytes.ToLower(lower), []byte("https://")) {
			return fasthttp.StatusBadRequest
		}
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c <= ' ' || c == 0x7f || c == '#':
			return fasthttp.StatusBadRequest
		case c == '%':
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return fasthttp.StatusBadRequest
			}
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validHost refuses Host values nginx refuses (ngx_http_validate_host): path separators,
// control characters, quotes and a leading dot.
func validHost(h []byte) bool {
	if len(h) > 0 && h[0] == '.' {
		return false
	}
	for _, c := range h {
		if c <= ' ' || c == 0x7f || c == '/' || c == '\\' || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}

// checkRawHeaders scans the header block as received. fasthttp keeps it verbatim
// (RawHeaders), so framing decisions are made on the bytes the client sent.
func checkRawHeaders(raw []byte) int {
	var clSeen, teSeen bool
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		var line []byte
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i], raw[i+1:]
		}
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return fasthttp.StatusBadRequest // bare LF line ending
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // end of the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fasthttp.StatusBadRequest // obs-fold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return fasthttp.StatusBadRequest
		}
		name, value := line[:colon], line[colon+1:]
		for _, c := range name {
			if !tokenTable[c] {
				return fasthttp.StatusBadRequest // also whitespace before the colon
			}
		}
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return fasthttp.StatusBadRequest // NUL, CR and other controls
			}
		}
		switch {
		case len(name) == 14 && eqFold(name, "content-length"):
			v := trimOWS(value)
			if clSeen || len(v) == 0 {
				return fasthttp.StatusBadRequest // duplicate or empty (CVE-2023-40225)
			}
			for _, c := range v {
				if c < '0' || c > '9' {
					return fasthttp.StatusBadRequest
				}
			}
			clSeen = true
		case len(name) == 17 && eqFold(name, "transfer-encoding"):
			if teSeen {
				return fasthttp.StatusBadRequest
			}
			teSeen = true
			if !eqFold(trimOWS(value), "chunked") {
				return fasthttp.StatusNotImplemented // nginx: identity, lists, gzip → 501
			}
		}
	}
	if clSeen && teSeen {
		return fasthttp.StatusBadRequest // RFC 9112 §6.3: a smuggling attempt
	}
	return 0
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// tokenTable marks RFC 9110 tchar.
var tokenTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()
