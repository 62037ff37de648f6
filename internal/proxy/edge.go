package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
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
	// A connection that sends nothing never gets here: sniffPreface closes it, unlogged, as
	// nginx does.
	line := rawRequestLine(err.Error())
	if line == nil && len(ctx.Request.Header.RawHeaders()) == 0 {
		// fasthttp reset the request (a body that failed while it was read ahead): its
		// line would read as the defaults, "GET /"
		line = noRequestLine
	}
	s.logRefused(ctx, line, nil) // the head is not to be trusted for the real IP
}

var noRequestLine = []byte("-")

// handleExpect answers Expect: 100-continue: a declared body over client_max_body_size is
// refused with 413 before the client sends it, as nginx does, instead of being invited.
func (s *Server) handleExpect(ctx *fasthttp.RequestCtx) int {
	if tooLong(ctx.Request.Header.ContentLength(), s.opts.MaxBodyBytes) {
		writeErrorPage(ctx, fasthttp.StatusRequestEntityTooLarge)
		s.logRefused(ctx, nil, &ctx.Request.Header)
		return fasthttp.StatusRequestEntityTooLarge // fasthttp closes the connection
	}
	return fasthttp.StatusContinue
}

// logRefused writes the access log line of a request the engine answered before the handler
// ran, as nginx logs a refused request; line, when set, is $request as received; h, when set,
// is read for the real IP.
func (s *Server) logRefused(ctx *fasthttp.RequestCtx, line []byte, h *fasthttp.RequestHeader) {
	if s.opts.AccessLog == nil {
		return
	}
	rc := acquireReqCtx(s)
	rc.fc = ctx
	rc.scheme = "http"
	if tc, ok := ctx.Conn().(*trackedConn); ok && tc.tls != nil {
		rc.scheme = "https"
	}
	rc.info.start = ctx.Time()
	rc.initAddrs(ctx.RemoteAddr(), ctx.LocalAddr(), h)
	rc.rawLine = line
	s.logAccess(rc, ctx.ConnID())
	releaseReqCtx(rc)
}

// rawRequestLine is the request line quoted in a fasthttp head error, whose message ends
// with ", contents: " and the buffer %q-quoted (its first 200 bytes, "...", its last 200 when
// longer); nil when the message has none. The header itself may already be reset by then.
func rawRequestLine(msg string) []byte {
	const marker = ", contents: "
	// the error's own text (a header value it quotes) may hold the marker too: the first
	// one followed by a quoted string is the buffer's
	var b string
	for rest := msg; ; {
		i := strings.Index(rest, marker)
		if i < 0 {
			return nil
		}
		rest = rest[i+len(marker):]
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if b, err = strconv.Unquote(q); err == nil {
				break
			}
		}
	}
	if j := strings.IndexAny(b, "\r\n"); j >= 0 {
		b = b[:j]
	}
	if b == "" {
		return nil
	}
	return []byte(b)
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
		if !targetSpecial[t[i]] {
			continue
		}
		if t[i] != '%' {
			return fasthttp.StatusBadRequest // space, control, DEL or '#'
		}
		if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
			return fasthttp.StatusBadRequest
		}
	}
	return 0
}

// targetSpecial marks the bytes checkTarget looks at: one table load per byte instead of
// four comparisons.
var targetSpecial = func() (t [256]bool) {
	for c := 0; c <= ' '; c++ {
		t[c] = true
	}
	t[0x7f], t['#'], t['%'] = true, true, true
	return
}()

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
		if hostRefused[c] {
			return false
		}
	}
	return true
}

// hostRefused marks the bytes validHost refuses.
var hostRefused = func() (t [256]bool) {
	for c := 0; c <= ' '; c++ {
		t[c] = true
	}
	t[0x7f], t['/'], t['\\'], t['"'], t['\''] = true, true, true, true, true
	return
}()

// checkRawHeaders scans the header block as received. fasthttp keeps it verbatim
// (RawHeaders), so framing decisions are made on the bytes the client sent. Each field is
// read in one pass: tchars up to the colon, then the value up to its CRLF.
func checkRawHeaders(raw []byte) int {
	var clSeen, teSeen bool
	for len(raw) > 0 {
		if raw[0] == '\r' && (len(raw) == 1 || raw[1] == '\n') {
			break // the empty line ending the block
		}
		// A name stops at the first non-tchar, which must be the colon: whitespace before
		// it, an obs-fold's leading space, a bare LF or a line without a colon stop it
		// elsewhere.
		colon := 0
		for colon < len(raw) && tokenTable[raw[colon]] {
			colon++
		}
		if colon == 0 || colon == len(raw) || raw[colon] != ':' {
			return fasthttp.StatusBadRequest
		}
		name, rest := raw[:colon], raw[colon+1:]
		// The value ends at the first control byte but HTAB, which must start the CRLF:
		// NUL, a bare CR or LF, other controls and DEL are refused.
		end := ctlIndex(rest)
		if end == len(rest) || rest[end] != '\r' {
			return fasthttp.StatusBadRequest
		}
		value := rest[:end]
		switch {
		case end+1 == len(rest):
			raw = nil // a CR closing the block ends the line, as the line-split scan took it
		case rest[end+1] == '\n':
			raw = rest[end+2:]
		default:
			return fasthttp.StatusBadRequest
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

// ctlIndex is the index of the first control byte but HTAB, or DEL, in v (len(v) if none).
// Values are most of a request head, so it tests eight bytes at a time and looks at single
// bytes only from the first word holding a byte below 0x20 (a tab, the CR, a refusal) or a DEL.
func ctlIndex(v []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; len(v)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		del := x ^ (ones * 0x7f) // DEL bytes become zero
		// (w - ones*n) &^ w & highs is non-zero exactly when a byte of w is below n
		if (x-ones*' ')&^x&highs != 0 || (del-ones)&^del&highs != 0 {
			break
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return i
		}
	}
	return len(v)
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
