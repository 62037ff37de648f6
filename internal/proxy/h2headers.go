package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/upstream"
)

// Forwarding headers for requests that arrived over HTTP/2, with the rules of
// buildUpstreamRequest and copyResponseHeader (headers.go): hop-by-hop and Connection-listed
// fields dropped, X-Real-IP and X-Forwarded-* as APISIX sets them, Host per pass_host, the
// node's Server replaced. The classification and the forwarded values are engine-neutral
// functions here; the HTTP/1.1 engine keeps its own zero-copy loop over fasthttp's header.

// reqHeaderRole is what the forwarding rules do with one client request header.
type reqHeaderRole uint8

const (
	hdrPass       reqHeaderRole = iota
	hdrDrop                     // hop-by-hop, Connection-listed, or set by the proxy itself
	hdrXFF                      // appended to
	hdrXFProto                  // passed only from a trusted peer
	hdrXFHost                   //   "
	hdrXFPort                   //   "
	hdrTE                       // hop-by-hop, but "trailers" passes to an HTTP/2 node (gRPC)
	hdrConnection               // hop-by-hop; its tokens name more
)

// requestHeaderRole classifies a client request header; tokens are the Connection header's.
func requestHeaderRole(k []byte, tokens [][]byte) reqHeaderRole {
	switch {
	case len(k) == 2 && eqFold(k, "te"):
		return hdrTE
	case len(k) == 10 && eqFold(k, "connection"):
		return hdrConnection
	case hopByHop(k):
		return hdrDrop
	case len(k) == 4 && eqFold(k, "host"),
		len(k) == 6 && eqFold(k, "expect"),
		len(k) == 14 && eqFold(k, "content-length"),
		len(k) == 9 && eqFold(k, hdrXRealIP):
		return hdrDrop
	case len(k) == 15 && eqFold(k, hdrXForwardedFor):
		return hdrXFF
	case len(k) == 17 && eqFold(k, hdrXForwardedProto):
		return hdrXFProto
	case len(k) == 16 && eqFold(k, hdrXForwardedHost):
		return hdrXFHost
	case len(k) == 16 && eqFold(k, hdrXForwardedPort):
		return hdrXFPort
	}
	if len(tokens) > 0 && listed(tokens, k) {
		return hdrDrop
	}
	return hdrPass
}

// forwardedHeaders are the values Sluice sets on the upstream request (ngx_tpl.lua):
// X-Real-IP is $remote_addr; X-Forwarded-For the client's list plus the TCP peer, or
// $remote_addr alone; Proto/Host/Port a trusted peer's values, else what Sluice observed.
type forwardedHeaders struct {
	realIP, xff, proto, host, port string
}

func newForwardedHeaders(a *clientAddrs, scheme string, host []byte, clientXFF, proto, fhost, port string) forwardedHeaders {
	f := forwardedHeaders{realIP: a.remote.String(), proto: proto, host: fhost, port: port}
	if clientXFF != "" {
		f.xff = clientXFF + ", " + a.peer.Addr().String()
	} else {
		f.xff = f.realIP
	}
	if !a.trusted || f.proto == "" {
		f.proto = scheme
	}
	if !a.trusted || f.host == "" {
		f.host = string(host)
	}
	if !a.trusted || f.port == "" {
		f.port = strconv.Itoa(int(a.local.Port()))
	}
	return f
}

// upstreamHeaders walks the client's request headers once: pass calls add for every header
// that goes on, and the forwarded values come back. te reports a TE that allows trailers.
func (hc *h2Ctx) upstreamHeaders(add func(k, v string)) (f forwardedHeaders, te bool) {
	h := hc.r.Header
	var tokens [][]byte
	for _, v := range h["Connection"] {
		tokens = connTokens(tokens, s2b(v))
	}
	var xff []string
	var proto, fhost, port string
	for k, vs := range h {
		switch requestHeaderRole(s2b(k), tokens) {
		case hdrPass:
			for _, v := range vs {
				add(k, v)
			}
		case hdrXFF:
			xff = append(xff, vs...)
		case hdrXFProto:
			proto = vs[len(vs)-1]
		case hdrXFHost:
			fhost = vs[len(vs)-1]
		case hdrXFPort:
			port = vs[len(vs)-1]
		case hdrTE:
			for _, v := range vs {
				te = te || teTrailers(v)
			}
		}
	}
	f = newForwardedHeaders(&hc.addrs, hc.scheme, hc.host, strings.Join(xff, ", "), proto, fhost, port)
	return f, te
}

// teTrailers reports whether a TE value lists "trailers".
func teTrailers(v string) bool {
	for tok := range strings.SplitSeq(v, ",") {
		if tok, _, _ = strings.Cut(tok, ";"); strings.EqualFold(strings.TrimSpace(tok), "trailers") {
			return true
		}
	}
	return false
}

// buildH1Request fills req for an HTTP/1.1 node (nginx forwards HTTP/2 requests as
// HTTP/1.1 to http/https upstreams). Host for pass_host "node" is set per try (setNodeHost).
func (hc *h2Ctx) buildH1Request(req *fasthttp.Request, u *upstream.Upstream) {
	dst := &req.Header
	req.Reset()
	dst.SetMethodBytes(hc.method)
	uri := make([]byte, 0, len(hc.upstreamPath)+1+len(hc.query))
	uri = append(uri, hc.upstreamPath...)
	if hc.query != nil {
		uri = append(uri, '?')
		uri = append(uri, hc.query...)
	}
	dst.SetRequestURIBytes(uri)
	f, _ := hc.upstreamHeaders(dst.Add)
	dst.Set(hdrXRealIP, f.realIP)
	dst.Set(hdrXForwardedFor, f.xff)
	dst.Set(hdrXForwardedProto, f.proto)
	dst.Set(hdrXForwardedHost, f.host)
	dst.Set(hdrXForwardedPort, f.port)
	switch u.Spec.PassHost {
	case "rewrite":
		dst.SetHost(u.Spec.UpstreamHost)
	case "node":
	default:
		dst.SetHost(hc.r.Host)
	}
}

// h2RequestHeader builds the header for an HTTP/2 node (grpc, grpcs); "TE: trailers" passes
// when the client sent it, as nginx's grpc module does.
func (hc *h2Ctx) h2RequestHeader() http.Header {
	out := make(http.Header, len(hc.r.Header)+5)
	f, te := hc.upstreamHeaders(func(k, v string) { out[k] = append(out[k], v) })
	if te {
		out["Te"] = []string{"trailers"}
	}
	out[hdrXRealIP] = []string{f.realIP}
	out[hdrXForwardedFor] = []string{f.xff}
	out[hdrXForwardedProto] = []string{f.proto}
	out[hdrXForwardedHost] = []string{f.host}
	out[hdrXForwardedPort] = []string{f.port}
	return out
}

// h2UpstreamHost is the :authority for an HTTP/2 node per pass_host.
func (hc *h2Ctx) h2UpstreamHost(u *upstream.Upstream, n *upstream.Node) string {
	switch {
	case u.Spec.PassHost == "rewrite":
		return u.Spec.UpstreamHost
	case u.Spec.PassHost == "node" || hc.r.Host == "":
		return n.UpstreamHost
	}
	return hc.r.Host
}

// responseHopHeader reports the response fields copyResponseHeader removes: connection-
// specific ones, Date (the server writes its own) and Server (replaced).
func responseHopHeader(k []byte) bool {
	switch len(k) {
	case 2:
		return eqFold(k, "te")
	case 4:
		return eqFold(k, "date")
	case 6:
		return eqFold(k, "server")
	case 7:
		return eqFold(k, "upgrade") || eqFold(k, "trailer")
	case 10:
		return eqFold(k, "connection") || eqFold(k, "keep-alive")
	case 16:
		return eqFold(k, "proxy-connection")
	case 17:
		return eqFold(k, "transfer-encoding")
	}
	return false
}

// copyH1ResponseHeader copies an HTTP/1.1 node's response head into an HTTP/2 response.
// Content-Length is left to the caller (it depends on how the body is sent).
func copyH1ResponseHeader(dst http.Header, src *fasthttp.ResponseHeader) {
	tokens := connTokens(nil, src.Peek(fasthttp.HeaderConnection))
	for k, v := range src.All() {
		if responseHopHeader(k) || len(k) == 14 && eqFold(k, "content-length") ||
			len(tokens) > 0 && listed(tokens, k) {
			continue
		}
		key := http.CanonicalHeaderKey(string(k))
		dst[key] = append(dst[key], string(v))
	}
}

// copyH2ResponseHeader copies an HTTP/2 node's response head.
func copyH2ResponseHeader(dst, src http.Header) {
	var tokens [][]byte
	for _, v := range src["Connection"] {
		tokens = connTokens(tokens, s2b(v))
	}
	for k, vs := range src {
		if responseHopHeader(s2b(k)) || len(tokens) > 0 && listed(tokens, s2b(k)) {
			continue
		}
		dst[k] = append(dst[k], vs...)
	}
}
