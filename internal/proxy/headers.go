package proxy

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/upstream"
)

// Header names Sluice sets on the upstream request (APISIX ngx_tpl.lua proxy_set_header).
const (
	hdrXRealIP         = "X-Real-IP"
	hdrXForwardedFor   = "X-Forwarded-For"
	hdrXForwardedProto = "X-Forwarded-Proto"
	hdrXForwardedHost  = "X-Forwarded-Host"
	hdrXForwardedPort  = "X-Forwarded-Port"
	hdrUpstreamStatus  = "X-APISIX-Upstream-Status"
)

// The same names as fasthttp normalizes them ("X-Real-IP" is sent as "X-Real-Ip"), for
// SetCanonical: Set would normalize the constant again on every request.
var (
	canonXRealIP         = []byte("X-Real-Ip")
	canonXForwardedFor   = []byte("X-Forwarded-For")
	canonXForwardedProto = []byte("X-Forwarded-Proto")
	canonXForwardedHost  = []byte("X-Forwarded-Host")
	canonXForwardedPort  = []byte("X-Forwarded-Port")
	canonConnection      = []byte(fasthttp.HeaderConnection) // for PeekCanonical
)

// hopByHop reports the RFC 9110 §7.6.1 connection-specific fields (plus the legacy
// Proxy-Connection and Keep-Alive) that a proxy must not forward.
func hopByHop(k []byte) bool {
	switch len(k) {
	case 2:
		return eqFold(k, "te")
	case 7:
		return eqFold(k, "upgrade") || eqFold(k, "trailer")
	case 10:
		return eqFold(k, "connection") || eqFold(k, "keep-alive")
	case 16:
		return eqFold(k, "proxy-connection")
	case 17:
		return eqFold(k, "transfer-encoding")
	case 19:
		return eqFold(k, "proxy-authenticate")
	}
	return false
}

func eqFold(b []byte, s string) bool { return strings.EqualFold(b2s(b), s) }

// connTokens collects the field names a Connection header lists (besides close, keep-alive
// and upgrade): they are hop-by-hop too, and a client must not be able to strip an
// end-to-end header (X-Forwarded-For, Authorization) by naming it (CVE-2024-45410).
func connTokens(dst [][]byte, v []byte) [][]byte {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = trimOWS(tok)
		if len(tok) == 0 || eqFold(tok, "close") || eqFold(tok, "keep-alive") || eqFold(tok, "upgrade") {
			continue
		}
		dst = append(dst, tok)
	}
	return dst
}

// listed reports whether k is one of the Connection tokens, except the end-to-end headers
// Sluice sets itself (those are replaced, never dropped on a client's request).
func listed(tokens [][]byte, k []byte) bool {
	for _, t := range tokens {
		if bytes.EqualFold(t, k) {
			return true
		}
	}
	return false
}

// buildUpstreamRequest fills req from the client's request: method, the raw path with dot
// segments removed plus the query, end-to-end headers, the forwarding headers APISIX sets,
// and Host per pass_host (node's is set per try in setNodeHost).
func (rc *reqCtx) buildUpstreamRequest(req *fasthttp.Request, u *upstream.Upstream, websocket bool) {
	src := &rc.fc.Request.Header
	dst := &req.Header
	req.Reset()
	// Every name added below is already in fasthttp's canonical form: the client's were
	// normalized by the parser (and by Set, for plugins' changes), Sluice's are constants in
	// that form. Normalizing them again would cost a copy and a scan per field.
	dst.DisableNormalizing()
	dst.SetMethodBytes(src.Method())
	rc.uriBuf = append(rc.uriBuf[:0], rc.upstreamPath...)
	if rc.query != nil { // "?" alone passes on as sent
		rc.uriBuf = append(rc.uriBuf, '?')
		rc.uriBuf = append(rc.uriBuf, rc.query...)
	}
	dst.SetRequestURIBytes(rc.uriBuf)

	rc.tokens = connTokens(rc.tokens[:0], src.PeekCanonical(canonConnection))
	var fwdProto, fwdHost, fwdPort []byte
	rc.xff = rc.xff[:0]
	for k, v := range src.All() {
		switch {
		case hopByHop(k):
			continue
		case len(k) == 4 && eqFold(k, "host"):
			continue
		case len(k) == 6 && eqFold(k, "expect"):
			continue // answered here (100-continue); the body follows unconditionally
		case len(k) == 14 && eqFold(k, "content-length"):
			continue // the body stream sets it
		case len(k) == 9 && eqFold(k, hdrXRealIP):
			continue
		case len(k) == 15 && eqFold(k, hdrXForwardedFor):
			if len(rc.xff) > 0 {
				rc.xff = append(rc.xff, ", "...)
			}
			rc.xff = append(rc.xff, v...)
			continue
		case len(k) == 17 && eqFold(k, hdrXForwardedProto):
			fwdProto = v
			continue
		case len(k) == 16 && eqFold(k, hdrXForwardedHost):
			fwdHost = v
			continue
		case len(k) == 16 && eqFold(k, hdrXForwardedPort):
			fwdPort = v
			continue
		}
		if len(rc.tokens) > 0 && listed(rc.tokens, k) {
			continue
		}
		switch b2s(k) {
		// fasthttp keeps these two apart from the other fields: AddBytesKV would copy the
		// value once and then set it with a second copy
		case fasthttp.HeaderUserAgent:
			dst.SetUserAgentBytes(v)
		case fasthttp.HeaderContentType:
			dst.SetContentTypeBytes(v)
		default:
			dst.AddBytesKV(k, v)
		}
	}
	if websocket {
		// APISIX: upstream_upgrade/upstream_connection take the client's values
		dst.SetBytesV(fasthttp.HeaderUpgrade, src.Peek(fasthttp.HeaderUpgrade))
		dst.SetBytesV(fasthttp.HeaderConnection, src.Peek(fasthttp.HeaderConnection))
	}

	// X-Real-IP: $remote_addr (after real_ip). X-Forwarded-For: the client's list plus the
	// TCP peer, or $remote_addr alone (ngx_tpl.lua). Proto/Host/Port: a trusted peer's
	// values pass through, anyone else's are replaced by what Sluice observed.
	remote := rc.remote.AppendTo(rc.remoteBuf[:0])
	dst.SetCanonical(canonXRealIP, remote)
	if len(rc.xff) > 0 {
		rc.xff = append(rc.xff, ", "...)
		rc.xff = rc.peer.Addr().AppendTo(rc.xff)
		dst.SetCanonical(canonXForwardedFor, rc.xff)
	} else {
		dst.SetCanonical(canonXForwardedFor, remote)
	}
	if !rc.trusted || len(fwdProto) == 0 {
		fwdProto = s2b(rc.scheme)
	}
	if !rc.trusted || len(fwdHost) == 0 {
		fwdHost = rc.host
	}
	if !rc.trusted || len(fwdPort) == 0 {
		fwdPort = appendUint(rc.localPortBuf[:0], uint64(rc.local.Port()))
	}
	dst.SetCanonical(canonXForwardedProto, fwdProto)
	dst.SetCanonical(canonXForwardedHost, fwdHost)
	dst.SetCanonical(canonXForwardedPort, fwdPort)

	switch u.Spec.PassHost {
	case "rewrite":
		dst.SetHost(u.Spec.UpstreamHost)
	case "node":
		// per try, setNodeHost
	default:
		dst.SetHostBytes(src.Host())
	}
}

// setNodeHost sets Host for pass_host "node" (and for a client that sent none).
func setNodeHost(req *fasthttp.Request, u *upstream.Upstream, n *upstream.Node) {
	if u.Spec.PassHost == "node" || len(req.Header.Host()) == 0 {
		req.Header.SetHost(n.UpstreamHost)
	}
}

func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// copyResponseHeader copies the upstream response head to the client's: status and reason,
// end-to-end headers (hop-by-hop and Connection-listed ones dropped), Server replaced.
// keepUpgrade keeps Upgrade/Connection for a 101 to a WebSocket request.
func (rc *reqCtx) copyResponseHeader(up *fasthttp.Response, keepUpgrade bool) {
	dst := &rc.fc.Response.Header
	src := &up.Header
	mustClose := dst.ConnectionClose() || rc.fc.Request.Header.ConnectionClose()
	// Each Del normalizes its name and scans the fields twice; a node usually sends none of
	// them, so one pass finds which are there. A body with a length has no trailers, so
	// every field Del could touch is one All shows; otherwise delete unconditionally.
	hop := ^hopFields(0)
	if src.ContentLength() >= 0 {
		hop = 0
		for k := range src.All() {
			hop |= hopField(k)
		}
	}
	rc.tokens = rc.tokens[:0]
	if hop&hopConnection != 0 {
		rc.tokens = connTokens(rc.tokens, src.PeekCanonical(canonConnection))
	}
	src.CopyTo(dst) // bulk copy, then remove what must not pass
	if !bytes.Equal(dst.Protocol(), http11) {
		dst.SetProtocol(http11) // a node's HTTP/1.1 (the usual) is left as copied
	}
	dst.ResetConnectionClose()
	if !keepUpgrade {
		if hop&hopConnection != 0 {
			dst.Del(fasthttp.HeaderConnection)
		}
		if hop&hopUpgrade != 0 {
			dst.Del(fasthttp.HeaderUpgrade)
		}
	}
	if hop&^(hopConnection|hopUpgrade) != 0 {
		for _, f := range hopDels {
			if hop&f.bit != 0 {
				dst.Del(f.name)
			}
		}
	}
	for _, t := range rc.tokens {
		dst.DelBytes(t)
	}
	dst.SetServerBytes(rc.srv.serverHdr)
	if mustClose {
		dst.SetConnectionClose()
	}
}

var http11 = []byte("HTTP/1.1")

// hopFields is a set of the response fields copyResponseHeader removes.
type hopFields uint16

const (
	hopConnection hopFields = 1 << iota
	hopUpgrade
	hopKeepAlive
	hopTransferEncoding
	hopTE
	hopTrailer
	hopProxyConnection
	hopDate
)

// hopDels are the removed fields besides Connection and Upgrade (kept for a WebSocket 101).
var hopDels = [...]struct {
	bit  hopFields
	name string
}{
	{hopKeepAlive, fasthttp.HeaderKeepAlive},
	{hopTransferEncoding, fasthttp.HeaderTransferEncoding},
	{hopTE, fasthttp.HeaderTE},
	{hopTrailer, fasthttp.HeaderTrailer},
	{hopProxyConnection, "Proxy-Connection"},
	{hopDate, fasthttp.HeaderDate}, // fasthttp writes the current Date itself
}

// hopField is k's bit in hopFields (case-insensitive, as Del is), or 0.
func hopField(k []byte) hopFields {
	switch len(k) {
	case 2:
		if eqFold(k, "te") {
			return hopTE
		}
	case 4:
		if eqFold(k, "date") {
			return hopDate
		}
	case 7:
		switch {
		case eqFold(k, "upgrade"):
			return hopUpgrade
		case eqFold(k, "trailer"):
			return hopTrailer
		}
	case 10:
		switch {
		case eqFold(k, "connection"):
			return hopConnection
		case eqFold(k, "keep-alive"):
			return hopKeepAlive
		}
	case 16:
		if eqFold(k, "proxy-connection") {
			return hopProxyConnection
		}
	case 17:
		if eqFold(k, "transfer-encoding") {
			return hopTransferEncoding
		}
	}
	return 0
}
