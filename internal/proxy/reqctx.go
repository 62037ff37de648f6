package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// reqCtx is one request's state on the hot path. It is pooled and engine-neutral in what it
// exposes (plugin.Vars and the phase seam); the HTTP/1.1 engine fills it from fasthttp's
// buffers, the HTTP/2 engine will fill it from net/http's. Nothing may keep it or a slice it
// returns after the request ends.
type reqCtx struct {
	srv *Server
	fc  *fasthttp.RequestCtx // HTTP/1.1 engine; nil on other engines

	// reqState is what every request starts from zero; it is cleared in one go on release.
	// What follows it keeps its buffers across requests (reset in place by releaseReqCtx) or
	// is scratch space always written before it is read, so clearing it would only cost.
	reqState

	params  router.Params
	attempt upstream.Attempt
	// Paths: upstreamPath is the raw path with dot segments removed; matchPath ($uri) is
	// decoded and normalized. query is the raw query without '?' (nil: none, not even '?').
	upstreamPath []byte
	matchPath    []byte
	query        []byte
	host         []byte // Host without port, lower-case
	// Forwarding state: the upstream request/response are allocated once per pooled
	// context and reused.
	upReq    *fasthttp.Request
	upResp   *fasthttp.Response
	statuses []byte // X-APISIX-Upstream-Status, "502, 200"
	uriBuf   []byte
	xff      []byte
	tokens   [][]byte
	hashBuf  []byte // a chash upstream's key for this request

	plug pluginState // the plugin runtime's per-request state (pluginctx.go)

	// Formatted variables, each in its own buffer so two lookups never share bytes.
	remoteBuf, realIPBuf, localBuf [48]byte
	remotePortBuf, localPortBuf    [8]byte
	balancerPortBuf                [8]byte
	statusBuf                      [8]byte
}

// reqState is the part of reqCtx that is zero at the start of every request.
type reqState struct {
	snap    *snapshot.Snapshot
	route   *snapshot.Route
	match   router.Request
	matched *router.Route // what the router matched ($matched_uri, $matched_host)

	peer     netip.AddrPort // the TCP peer (realip_remote_addr)
	remote   netip.Addr     // $remote_addr after real_ip_from/real_ip_header
	realPort portOverride   // $remote_port set with remote by the real-ip plugin (pluginctx_realip.go)
	local    netip.AddrPort
	peerUnix bool
	trusted  bool // the peer is in real_ip_from: its X-Forwarded-* pass through
	scheme   string
	conn     *upstream.Conn
	body     clientBody
	bodyBuf  *[]byte // the buffered body prefix (bodyBufPool)
	prefix   prefixReader
	// bodyWhole: the body fit the buffer; prefetched: client bytes read into it
	bodyWhole  bool
	prefetched int64
	stream     responseStream
	tryStart   int64         // upstream.MonoNow at the try's start, ewma upstreams only
	answered   int64         // upstream.MonoNow when the response head was read
	rtt        time.Duration // of the successful try, for ewma

	info reqInfo // plugin.RequestInfo (reqinfo.go)
	// A plugin's choices (pluginctx_upstream.go): the upstream, a streamed exit body.
	upOverride *upstream.Upstream
	exitBody   io.Reader
	exitSize   int64
	exitSt     exitStream
	rawLine    []byte // the request line of a head fasthttp could not parse (the access log)
	maxBody    int64  // client_max_body_size for this request: the gateway's or a plugin's
}

var reqCtxPool = sync.Pool{New: func() any { return new(reqCtx) }}

func acquireReqCtx(s *Server) *reqCtx {
	rc := reqCtxPool.Get().(*reqCtx)
	rc.srv = s
	return rc
}

func releaseReqCtx(rc *reqCtx) {
	if rc.conn != nil {
		rc.conn.Release(false)
	}
	rc.attempt.Reset()
	rc.params.Reset()
	if rc.upReq != nil {
		// forward resets upReq before use (buildUpstreamRequest) and nothing reads it before
		// (the access log only once a try began): a second reset here only costs, unless a
		// body stream is to be closed now
		if rc.upReq.IsBodyStream() {
			rc.upReq.Reset()
		}
		rc.upResp.Reset()
	}
	if rc.bodyBuf != nil {
		bodyBufPool.Put(rc.bodyBuf)
	}
	rc.closeExitBody()
	// Only reqState is cleared wholesale: assigning a reqCtx literal to *rc built the whole
	// 1.6 KB struct in a temporary and copied it back, preserved fields included.
	rc.reqState = reqState{}
	rc.srv, rc.fc, rc.query = nil, nil, nil
	rc.upstreamPath, rc.matchPath, rc.host = rc.upstreamPath[:0], rc.matchPath[:0], rc.host[:0]
	rc.statuses, rc.uriBuf, rc.xff, rc.tokens = rc.statuses[:0], rc.uriBuf[:0], rc.xff[:0], rc.tokens[:0]
	rc.plug = rc.plug.recycle()
	reqCtxPool.Put(rc)
}

// connAddrs are a connection's addresses and whether its peer is in real_ip_from: the same for
// every request on it, so the HTTP/1.1 engine derives them once per connection (trackedConn).
type connAddrs struct {
	peer     netip.AddrPort // the TCP peer (realip_remote_addr)
	local    netip.AddrPort
	peerUnix bool
	trusted  bool
}

// newConnAddrs converts the connection's addresses and checks the peer against real_ip_from.
func newConnAddrs(t *trustedPeers, peer, local net.Addr) connAddrs {
	var a connAddrs
	switch p := peer.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(p.IP)
		a.peer = netip.AddrPortFrom(ip.Unmap(), uint16(p.Port))
	case *net.UnixAddr:
		a.peerUnix = true
	}
	if l, ok := local.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(l.IP)
		a.local = netip.AddrPortFrom(ip.Unmap(), uint16(l.Port))
	}
	a.trusted = a.peerUnix && t.unix || t.contains(a.peer.Addr())
	return a
}

// initAddrs fills the peer, local and $remote_addr (real_ip module semantics: the configured
// header of a trusted peer replaces the address, trustedPeers.realIP); h may be nil.
func (rc *reqCtx) initAddrs(peer, local net.Addr, h *fasthttp.RequestHeader) {
	a := newConnAddrs(&rc.srv.trusted, peer, local)
	rc.setAddrs(&a, h)
}

// setAddrs is initAddrs with the connection's part already derived. The header is only read
// for a trusted peer.
func (rc *reqCtx) setAddrs(a *connAddrs, h *fasthttp.RequestHeader) {
	rc.peer, rc.local, rc.peerUnix, rc.trusted = a.peer, a.local, a.peerUnix, a.trusted
	rc.remote = rc.peer.Addr()
	if !rc.trusted || h == nil || rc.srv.realIPPP {
		return // real_ip_header proxy_protocol: handleHTTP1 takes the header's source
	}
	s := rc.srv
	var ip netip.Addr
	var port uint16
	var ok bool
	if s.realIPXFF {
		ip, port, ok = s.trusted.realIP(rc.remote, s.opts.RealIPRecursive, h.PeekAll(b2s(s.realIPKey))...)
	} else if v := h.PeekCanonical(s.realIPKey); len(v) > 0 {
		ip, port, ok = s.trusted.realIP(rc.remote, s.opts.RealIPRecursive, v)
	}
	if ok {
		rc.remote, rc.realPort = ip, portOverride{port: port, set: true}
	}
}

// Lookup implements plugin.Vars over fasthttp's buffers without allocating. Values are valid
// until the phase returns.
func (rc *reqCtx) Lookup(v *plugin.Var) ([]byte, bool) {
	h := &rc.fc.Request.Header
	switch v.Kind {
	case plugin.VarArg:
		return present(rc.fc.QueryArgs().Peek(v.Name))
	case plugin.VarHeader:
		return present(h.Peek(v.Name))
	case plugin.VarCookie:
		return present(h.Cookie(v.Name))
	case plugin.VarURIParam:
		return rc.params.Get(v.Name)
	case plugin.VarPostArg:
		// Needs the buffered form body; the plugin runtime adds body buffering on demand.
		return nil, false
	case plugin.VarURI:
		return rc.matchPath, true
	case plugin.VarRequestURI:
		return h.RequestURI(), true
	case plugin.VarQueryString:
		return rc.query, true
	case plugin.VarHost:
		return rc.host, true
	case plugin.VarRemoteAddr:
		return rc.remote.AppendTo(rc.remoteBuf[:0]), true
	case plugin.VarRemotePort:
		return rc.realPort.appendRemotePort(rc.remotePortBuf[:0], rc.peer.Port())
	case plugin.VarServerAddr:
		return rc.local.Addr().AppendTo(rc.localBuf[:0]), true
	case plugin.VarServerPort:
		return strconv.AppendUint(rc.localPortBuf[:0], uint64(rc.local.Port()), 10), true
	case plugin.VarRequestMethod:
		return h.Method(), true
	case plugin.VarScheme:
		return s2b(rc.scheme), true
	case plugin.VarServerProtocol:
		return h.Protocol(), true
	case plugin.VarRouteID:
		if rc.route == nil {
			return nil, false
		}
		return s2b(rc.route.ID), true
	case plugin.VarRouteName:
		if rc.route == nil || rc.route.Name == "" {
			return nil, false
		}
		return s2b(rc.route.Name), true
	case plugin.VarServiceID:
		if rc.route == nil || rc.route.ServiceID == "" {
			return nil, false
		}
		return s2b(rc.route.ServiceID), true
	case plugin.VarServiceName:
		if rc.route == nil || rc.route.Service == nil || rc.route.Service.Name == "" {
			return nil, false
		}
		return s2b(rc.route.Service.Name), true
	case plugin.VarConsumerName, plugin.VarConsumerGroupID:
		return rc.plug.consumerVar(v.Kind)
	case plugin.VarRequestID:
		return rc.plug.lookupSet("apisix_request_id") // set by the request-id plugin
	case plugin.VarStatus:
		return strconv.AppendInt(rc.statusBuf[:0], int64(rc.Status()), 10), true
	case plugin.VarUnknown:
		if len(rc.plug.setVars) > 0 {
			if val, ok := rc.plug.lookupSet(v.Name); ok {
				return val, true
			}
		}
		return rc.lookupNginx(v.Name)
	}
	return nil, false
}

// lookupNginx resolves the nginx variables plugins commonly read that have no kind of their
// own. The names are compared once per lookup; hot plugins should use typed kinds.
func (rc *reqCtx) lookupNginx(name string) ([]byte, bool) {
	h := &rc.fc.Request.Header
	switch name {
	case "matched_uri":
		return matchedVar(rc.params.MatchedURI)
	case "matched_host":
		if rc.matched == nil {
			return nil, false
		}
		return matchedVar(router.MatchedHost(rc.matched, rc.host))
	case "content_type":
		return present(h.ContentType())
	case "content_length":
		return present(h.Peek(fasthttp.HeaderContentLength))
	case "is_args":
		if len(rc.query) > 0 {
			return s2b("?"), true
		}
		return nil, true
	case "document_uri":
		return rc.matchPath, true
	case "realip_remote_addr":
		return rc.peer.Addr().AppendTo(rc.realIPBuf[:0]), true
	case "http_host":
		return present(h.Host())
	case "hostname":
		return s2b(rc.srv.hostname), true
	case "server_name":
		return s2b(serverName), true
	case "balancer_ip":
		if n := rc.attempt.Current(); n != nil {
			return s2b(n.Host), true
		}
	case "balancer_port":
		if n := rc.attempt.Current(); n != nil {
			return strconv.AppendInt(rc.balancerPortBuf[:0], int64(n.Port), 10), true
		}
	case "proxy_protocol_addr", "proxy_protocol_port":
		if tc, ok := rc.fc.Conn().(*trackedConn); ok {
			return ppVar(name, tc.ppSrc, rc.realIPBuf[:0])
		}
	default:
		if isTLSVar(name) {
			return rc.srv.tlsVar(name, rc.tlsState())
		}
	}
	return nil, false
}

// tlsState is the connection's TLS state, nil on plain HTTP.
func (rc *reqCtx) tlsState() *tls.ConnectionState {
	tc, ok := rc.fc.Conn().(*trackedConn)
	if !ok || tc.tls == nil {
		return nil
	}
	cs := tc.tls.ConnectionState()
	return &cs
}

func present(b []byte) ([]byte, bool) { return b, b != nil }

// serverName is $server_name: APISIX's nginx.conf proxy server is `server_name _;`.
const serverName = "_"

// matchedVar is a matched_* variable: absent when no route (or no host) matched.
func matchedVar(s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	return s2b(s), true
}

var _ plugin.Vars = (*reqCtx)(nil)
