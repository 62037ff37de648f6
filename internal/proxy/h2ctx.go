package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
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

// h2Ctx is one HTTP/2 request's state: the net/http counterpart of reqCtx, filled from
// *http.Request, with the same derived values (paths, host, addresses) and the same
// plugin.Vars. It is pooled; nothing may keep it or a slice it returns after the request.
type h2Ctx struct {
	srv *Server
	r   *http.Request
	w   h2Writer // the stream's ResponseWriter; everything writes through it

	snap    *snapshot.Snapshot
	route   *snapshot.Route
	params  router.Params
	match   router.Request
	matched *router.Route

	upstreamPath []byte // raw path, dot segments removed
	matchPath    []byte // $uri
	query        []byte // raw query without '?'; nil when the target had no '?'
	host         []byte // Host without port, lower-case
	target       []byte // :path as sent
	method       []byte

	addrs  clientAddrs
	scheme string
	// ppSrc: the PROXY protocol header's source of the connection (invalid without one)
	ppSrc netip.AddrPort
	// h3: an HTTP/3 request; quic-go has no send_timeout of its own, the writes arm it
	h3      bool
	args    *fasthttp.Args // parsed on the first arg_* lookup (queryArgs)
	argsOK  bool
	attempt upstream.Attempt
	// statuses of the tries, X-APISIX-Upstream-Status
	statuses []byte

	remoteBuf, realIPBuf, localBuf [48]byte
	remotePortBuf, localPortBuf    [8]byte
	balancerPortBuf                [8]byte
	statusBuf                      [8]byte

	// The plugin side (h2plugin.go): the response's status (an exit's, the upstream's, or
	// what was written), the body of a response the gateway made itself, a buffered
	// request body lent to the forwarders, and the runtime's per-request state.
	status   int
	respBody []byte
	reqBody  bufferedBody
	limBody  *limitedBody // the client's body under client_max_body_size; nil without a body
	hashBuf  []byte       // a chash upstream's key for this request
	plug     pluginState
	info     reqInfo // plugin.RequestInfo (reqinfo.go)
	// A plugin's choices (pluginctx_upstream.go).
	upOverride *upstream.Upstream
	exitBody   io.Reader
	exitSize   int64
}

var h2CtxPool = sync.Pool{New: func() any { return new(h2Ctx) }}

func acquireH2Ctx(s *Server, w http.ResponseWriter, r *http.Request) *h2Ctx {
	hc := h2CtxPool.Get().(*h2Ctx)
	hc.srv, hc.r = s, r
	hc.w = h2Writer{ResponseWriter: w, hc: hc}
	hc.info.start = time.Now()
	return hc
}

func releaseH2Ctx(hc *h2Ctx) {
	if hc.exitBody != nil {
		closeReader(hc.exitBody)
	}
	hc.attempt.Reset()
	hc.params.Reset()
	if hc.args != nil {
		hc.args.Reset()
	}
	*hc = h2Ctx{
		params:       hc.params,
		attempt:      hc.attempt,
		args:         hc.args,
		respBody:     hc.respBody[:0],
		plug:         hc.plug.recycle(),
		upstreamPath: hc.upstreamPath[:0],
		matchPath:    hc.matchPath[:0],
		host:         hc.host[:0],
		target:       hc.target[:0],
		method:       hc.method[:0],
		statuses:     hc.statuses[:0],
		hashBuf:      hc.hashBuf[:0],
	}
	h2CtxPool.Put(hc)
}

// clientAddrs are a request's addresses with nginx real_ip semantics.
type clientAddrs struct {
	peer     netip.AddrPort // the TCP peer (realip_remote_addr)
	remote   netip.Addr     // $remote_addr after real_ip_from/real_ip_header
	realPort portOverride   // $remote_port set with remote by the real-ip plugin (h2plugin_realip.go)
	local    netip.AddrPort
	peerUnix bool
	trusted  bool // the peer is in real_ip_from: its X-Forwarded-* pass through
}

// newClientAddrs derives the addresses as reqCtx.initAddrs does: the configured real-IP
// header from a trusted peer replaces $remote_addr (trustedPeers.realIP).
func newClientAddrs(t *trustedPeers, peer, local net.Addr, realIP [][]byte, recursive bool) clientAddrs {
	var a clientAddrs
	switch p := peer.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(p.IP)
		a.peer = netip.AddrPortFrom(ip.Unmap(), uint16(p.Port))
	case *net.UDPAddr: // HTTP/3
		ip, _ := netip.AddrFromSlice(p.IP)
		a.peer = netip.AddrPortFrom(ip.Unmap(), uint16(p.Port))
	case *net.UnixAddr:
		a.peerUnix = true
	}
	switch l := local.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(l.IP)
		a.local = netip.AddrPortFrom(ip.Unmap(), uint16(l.Port))
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(l.IP)
		a.local = netip.AddrPortFrom(ip.Unmap(), uint16(l.Port))
	}
	a.remote = a.peer.Addr()
	a.trusted = a.peerUnix && t.unix || t.contains(a.peer.Addr())
	if a.trusted && len(realIP) > 0 {
		if ip, port, ok := t.realIP(a.remote, recursive, realIP...); ok {
			a.remote, a.realPort = ip, portOverride{port: port, set: true}
		}
	}
	return a
}

// normalize derives the upstream path, $uri, the query and $host from the request, as the
// HTTP/1.1 engine does; false means the path cannot be matched (400).
func (hc *h2Ctx) normalize() bool {
	r := hc.r
	hc.method = append(hc.method[:0], r.Method...)
	hc.target = append(hc.target[:0], r.RequestURI...)
	path, query := splitTarget(hc.target)
	hc.query = query
	o := &hc.srv.opts
	hc.upstreamPath = removeDotSegments(hc.upstreamPath[:0], path)
	var ok bool
	if hc.matchPath, ok = matchPath(hc.matchPath[:0], hc.upstreamPath, o); !ok {
		return false
	}
	if o.DeleteURITailSlash && len(hc.upstreamPath) > 1 && hc.upstreamPath[len(hc.upstreamPath)-1] == '/' {
		hc.upstreamPath = hc.upstreamPath[:len(hc.upstreamPath)-1]
	}
	hc.host = appendHostLower(hc.host[:0], s2b(r.Host))
	return true
}

// header returns the first value of a request header; name is lower-case or canonical.
// Host is the :authority (net/http moves it out of the header map).
func (hc *h2Ctx) header(name string) ([]byte, bool) {
	if eqFold(s2b(name), "host") {
		return s2b(hc.r.Host), hc.r.Host != ""
	}
	vs := hc.r.Header.Values(name)
	if len(vs) == 0 {
		return nil, false
	}
	return s2b(vs[0]), true
}

// Lookup implements plugin.Vars over the *http.Request. Values are valid until the phase
// returns.
func (hc *h2Ctx) Lookup(v *plugin.Var) ([]byte, bool) {
	r := hc.r
	switch v.Kind {
	case plugin.VarArg:
		return present(hc.queryArgs().Peek(v.Name))
	case plugin.VarHeader:
		return hc.header(v.Name)
	case plugin.VarCookie:
		return hc.Cookie(v.Name)
	case plugin.VarURIParam:
		return hc.params.Get(v.Name)
	case plugin.VarPostArg:
		return nil, false // needs the buffered form body (plugin runtime)
	case plugin.VarURI:
		return hc.matchPath, true
	case plugin.VarRequestURI:
		return hc.target, true
	case plugin.VarQueryString:
		return hc.query, true
	case plugin.VarHost:
		return hc.host, true
	case plugin.VarRemoteAddr:
		return hc.addrs.remote.AppendTo(hc.remoteBuf[:0]), true
	case plugin.VarRemotePort:
		return hc.addrs.realPort.appendRemotePort(hc.remotePortBuf[:0], hc.addrs.peer.Port())
	case plugin.VarServerAddr:
		return hc.addrs.local.Addr().AppendTo(hc.localBuf[:0]), true
	case plugin.VarServerPort:
		return strconv.AppendUint(hc.localPortBuf[:0], uint64(hc.addrs.local.Port()), 10), true
	case plugin.VarRequestMethod:
		return hc.method, true
	case plugin.VarScheme:
		return s2b(hc.scheme), true
	case plugin.VarServerProtocol:
		return s2b(r.Proto), true // "HTTP/2.0", as nginx's $server_protocol
	case plugin.VarRouteID:
		if hc.route == nil {
			return nil, false
		}
		return s2b(hc.route.ID), true
	case plugin.VarRouteName:
		if hc.route == nil || hc.route.Name == "" {
			return nil, false
		}
		return s2b(hc.route.Name), true
	case plugin.VarServiceID:
		if hc.route == nil || hc.route.ServiceID == "" {
			return nil, false
		}
		return s2b(hc.route.ServiceID), true
	case plugin.VarServiceName:
		if hc.route == nil || hc.route.Service == nil || hc.route.Service.Name == "" {
			return nil, false
		}
		return s2b(hc.route.Service.Name), true
	case plugin.VarConsumerName, plugin.VarConsumerGroupID:
		return hc.plug.consumerVar(v.Kind)
	case plugin.VarRequestID:
		return hc.plug.lookupSet("apisix_request_id") // set by the request-id plugin
	case plugin.VarStatus:
		return strconv.AppendInt(hc.statusBuf[:0], int64(hc.Status()), 10), true
	case plugin.VarUnknown:
		if len(hc.plug.setVars) > 0 {
			if val, ok := hc.plug.lookupSet(v.Name); ok {
				return val, true
			}
		}
		return hc.lookupNginx(v.Name)
	}
	return nil, false
}

// lookupNginx resolves the same untyped nginx variables as reqCtx.lookupNginx.
func (hc *h2Ctx) lookupNginx(name string) ([]byte, bool) {
	switch name {
	case "hostname":
		return s2b(hc.srv.hostname), true
	case "server_name":
		return s2b(serverName), true
	case "matched_uri":
		return matchedVar(hc.params.MatchedURI)
	case "matched_host":
		if hc.matched == nil {
			return nil, false
		}
		return matchedVar(router.MatchedHost(hc.matched, hc.host))
	case "content_type":
		return hc.header("Content-Type")
	case "content_length":
		return hc.header("Content-Length")
	case "is_args":
		if len(hc.query) > 0 {
			return s2b("?"), true
		}
		return nil, true
	case "document_uri":
		return hc.matchPath, true
	case "realip_remote_addr":
		return hc.addrs.peer.Addr().AppendTo(hc.realIPBuf[:0]), true
	case "http_host":
		return hc.header("host")
	case "balancer_ip":
		if n := hc.attempt.Current(); n != nil {
			return s2b(n.Host), true
		}
	case "balancer_port":
		if n := hc.attempt.Current(); n != nil {
			return strconv.AppendInt(hc.balancerPortBuf[:0], int64(n.Port), 10), true
		}
	case "proxy_protocol_addr", "proxy_protocol_port":
		return ppVar(name, hc.ppSrc, hc.realIPBuf[:0])
	default:
		if isTLSVar(name) {
			var cs *tls.ConnectionState
			if hc.r != nil {
				cs = hc.r.TLS
			}
			return hc.srv.tlsVar(name, cs)
		}
	}
	return nil, false
}

var _ plugin.Vars = (*h2Ctx)(nil)
