package proxy

import (
	"crypto/tls"
	"github.com/quic-go/quic-go/http3"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
)

// handleHTTP2 is the HTTP/2 engine's handler: the edge checks net/http leaves to Sluice,
// normalization, one snapshot, route match and the same route checks, plugin phases and
// answers as handleHTTP1, then forwarding by upstream scheme (h2forward.go).
func (s *Server) handleHTTP2(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Server", s.opts.ServerName)
	st := s.checkH2Request(r)
	hc := acquireH2Ctx(s, rw, r)
	defer releaseH2Ctx(hc)
	w := &hc.w // records the status for the log phase
	hc.scheme = "http"
	if r.TLS != nil {
		hc.scheme = "https"
	}
	hc.h3 = r.ProtoMajor == 3
	var peer, local net.Addr
	tc, _ := r.Context().Value(connKey{}).(*trackedConn)
	if tc != nil {
		peer, local = tc.RemoteAddr(), tc.LocalAddr()
	} else { // HTTP/3: quic-go puts the connection's addresses in the context
		local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		peer, _ = r.Context().Value(http3.RemoteAddrContextKey).(net.Addr)
	}
	var realIP [][]byte
	if vs := r.Header[s.realIPCanon]; len(vs) > 0 && !s.realIPPP {
		if !s.realIPXFF {
			vs = vs[:1] // nginx reads every line of X-Forwarded-For only
		}
		realIP = make([][]byte, len(vs))
		for i, v := range vs {
			realIP[i] = s2b(v)
		}
	}
	hc.addrs = newClientAddrs(&s.trusted, peer, local, realIP, s.opts.RealIPRecursive)
	hc.ppSrc = netip.AddrPort{}
	if tc != nil && tc.ppSrc.IsValid() {
		hc.ppSrc = tc.ppSrc
		if s.realIPPP && hc.addrs.trusted {
			// real_ip_header proxy_protocol: the header's source is $remote_addr
			hc.addrs.remote, hc.addrs.realPort = tc.ppSrc.Addr().Unmap(), portOverride{port: tc.ppSrc.Port(), set: true}
		}
	}
	if st == 0 && !hc.normalize() {
		st = http.StatusBadRequest
	}
	if st == 0 && r.TLS != nil && !s.clientVerified(hc.host, hc.matchPath, func() tls.ConnectionState { return *r.TLS }) {
		st = http.StatusBadRequest
	}
	if st != 0 {
		hc.method = append(hc.method[:0], r.Method...) // for the log line (normalize sets them)
		hc.target = append(hc.target[:0], r.RequestURI...)
		writeErrorPageH2(w, st)
		s.logAccess(hc, h2ShardKey(hc)) // as nginx logs what it refuses; no route, no plugins
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		// A reader of its own, not part of the pooled hc: the HTTP/2 transport of a grpc
		// node may still read it after the handler returned (a cancelled call).
		hc.limBody = &limitedBody{r: r.Body}
		hc.limBody.limit.Store(s.opts.MaxBodyBytes)
		r.Body = hc.limBody
	}
	// log runs once the response was handed to the stream, also when it was aborted
	defer func() {
		logPhase(&hc.plug, hc)
		s.logAccess(hc, h2ShardKey(hc))
	}()
	s.serveH2Request(w, hc)
}

// limitedBody is an HTTP/2 request body held to client_max_body_size as it is read. The
// limit is atomic: a plugin sets it on the handler's goroutine while a transport goroutine
// may be reading.
type limitedBody struct {
	r     io.ReadCloser
	n     int64
	limit atomic.Int64
	over  atomic.Bool // the body went past the limit (a grpc call failing on it is a 413)
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if l := b.limit.Load(); l > 0 && b.n > l {
		b.over.Store(true)
		return n, errMaxBodySize
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// SetMaxBodySize sets client_max_body_size for this request (plugin.BodyLimiter).
func (hc *h2Ctx) SetMaxBodySize(n int64) {
	if hc.limBody != nil {
		hc.limBody.limit.Store(n)
	}
}

var (
	_ plugin.BodyLimiter = (*h2Ctx)(nil)
	_ plugin.BodyLimiter = (*reqCtx)(nil)
)

// checkH2Request applies the HTTP/1.1 edge's target and Host rules; the HTTP/2 server has
// already refused malformed framing and connection-specific fields. CONNECT (no :path) is
// refused as nginx refuses it.
func (s *Server) checkH2Request(r *http.Request) int {
	switch {
	case r.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed
	case len(r.RequestURI) == 0 || r.RequestURI[0] != '/':
		return http.StatusBadRequest
	case checkTarget(s2b(r.RequestURI)) != 0 || !validHost(s2b(r.Host)):
		return http.StatusBadRequest
	case s.opts.MaxBodyBytes > 0 && r.ContentLength > s.opts.MaxBodyBytes:
		return http.StatusRequestEntityTooLarge
	}
	return 0
}

// serveH2Request routes and answers hc, as Server.serve does for HTTP/1.1.
func (s *Server) serveH2Request(w http.ResponseWriter, hc *h2Ctx) {
	if s.opts.Snapshots == nil {
		writeNotFoundH2(w)
		return
	}
	hc.snap = s.opts.Snapshots.Load()
	hc.match = router.Request{
		Path:       hc.matchPath,
		Host:       hc.host,
		Method:     hc.method,
		RemoteAddr: hc.addrs.remote,
		Vars:       hc,
	}
	m := hc.snap.Router.Match(&hc.match, &hc.params)
	hc.matched = m
	if m == nil {
		s.serveUnmatchedH2(w, hc) // global rules run before the 404, as in APISIX
		return
	}
	hc.route = m.Value.(*snapshot.Route)
	rt := hc.route
	switch {
	case rt.Failure != nil:
		s.log.Error("route cannot be served", "route", rt.ID, "reason", rt.Failure.Reason)
		writeErrorPageH2(w, rt.Failure.Status)
		return
	case rt.Unsupported != "":
		writeJSONErrorH2(w, http.StatusServiceUnavailable,
			"plugin "+rt.Unsupported+" is configured on route "+rt.ID+" but not available in this build")
		return
	}
	hc.plug.rt.Begin(hc.snap.Plugins, true, rt.Chain)
	if requestPhases(&hc.plug, hc) {
		s.writeOwnH2(w, hc)
		return
	}
	u := upstreamFor(hc.upOverride, rt.Upstream)
	if u == nil || len(u.Nodes()) == 0 {
		s.gatewayErrorH2(w, hc, http.StatusServiceUnavailable)
		return
	}
	switch u.Scheme() {
	case "grpc", "grpcs":
		s.forwardH2(w, hc, u)
	default:
		s.forwardH2ToH1(w, hc, u)
	}
}

// writeErrorPageH2 is writeErrorPage for net/http: the same nginx page and status.
func writeErrorPageH2(w http.ResponseWriter, status int) {
	page := errorPages[status]
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

func writeNotFoundH2(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(routeNotFound)))
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(routeNotFound)
}

// writeJSONErrorH2 is writeJSONError for net/http; msg must be JSON-safe.
func writeJSONErrorH2(w http.ResponseWriter, status int, msg string) {
	body := `{"error_msg":"` + msg + "\"}\n"
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
