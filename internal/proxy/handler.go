package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/snapshot"
)

// handleHTTP1 is the HTTP/1.1 engine's handler: strict edge, normalization, one snapshot,
// route match, plugin phases, forward.
func (s *Server) handleHTTP1(fc *fasthttp.RequestCtx) {
	st := checkRequest(&fc.Request.Header)
	if s.draining.Load() {
		fc.SetConnectionClose()
	}
	rc := acquireReqCtx(s)
	rc.fc = fc
	rc.scheme = "http"
	rc.info.start = fc.Time()
	rc.maxBody = s.opts.MaxBodyBytes
	tc, _ := fc.Conn().(*trackedConn)
	if tc != nil {
		if tc.tls != nil {
			rc.scheme = "https"
		}
		tc.reqs.Add(1) // per connection: no counter shared across cores
		if !tc.addrsSet {
			tc.addrs = newConnAddrs(&s.trusted, fc.RemoteAddr(), fc.LocalAddr())
			tc.addrsSet = true
		}
		rc.setAddrs(&tc.addrs, &fc.Request.Header)
		if s.realIPPP && rc.trusted && tc.ppSrc.IsValid() {
			rc.remote, rc.realPort = tc.ppSrc.Addr().Unmap(), portOverride{port: tc.ppSrc.Port(), set: true}
		}
	} else {
		rc.initAddrs(fc.RemoteAddr(), fc.LocalAddr(), &fc.Request.Header)
	}
	if st == 0 && !rc.normalize() {
		st = fasthttp.StatusBadRequest
	}
	if st == 0 && tc != nil && tc.tls != nil && !s.clientVerified(rc.host, rc.matchPath, tc.tls.ConnectionState) {
		st = fasthttp.StatusBadRequest
	}
	if st == 0 && tooLong(fc.Request.Header.ContentLength(), s.opts.MaxBodyBytes) {
		st = fasthttp.StatusRequestEntityTooLarge // nginx's find-config check: before any plugin
	}
	if st != 0 {
		s.reject(fc, st)
		s.logAccess(rc, fc.ConnID()) // as nginx logs what it refuses; no route, no plugins
		releaseReqCtx(rc)
		return
	}
	if s.serve(rc) {
		// the response body streams after the handler returns; the stream writer
		// releases rc when it is done.
		return
	}
	s.runLog(rc)
	releaseReqCtx(rc)
}

// tooLong reports a declared Content-Length over client_max_body_size limit (0: none).
func tooLong(contentLength int, limit int64) bool {
	return limit > 0 && int64(contentLength) > limit
}

// reject answers a request refused at the edge and closes the connection: its framing cannot
// be trusted, so nothing after it on the connection can be either.
func (s *Server) reject(fc *fasthttp.RequestCtx, status int) {
	writeErrorPage(fc, status)
	fc.SetConnectionClose()
	// Do not read (and so never forward) a body whose framing was refused.
	fc.Request.CloseBodyStream() //nolint:errcheck
}

// normalize derives the upstream path, the match path ($uri), the query and the host.
func (rc *reqCtx) normalize() bool {
	h := &rc.fc.Request.Header
	target := h.RequestURI()
	path, query := splitTarget(target)
	rc.query = query
	o := &rc.srv.opts
	if plainPath(path) && !o.NormalizeURILikeServlet {
		// nothing to resolve, decode or merge (the usual path): both are the target's, as
		// removeDotSegments and matchPath would return them, without their two passes
		rc.upstreamPath = append(rc.upstreamPath[:0], path...)
		rc.matchPath = append(rc.matchPath[:0], path...)
		if o.DeleteURITailSlash && len(rc.matchPath) > 1 && rc.matchPath[len(rc.matchPath)-1] == '/' {
			rc.matchPath = rc.matchPath[:len(rc.matchPath)-1]
		}
	} else {
		rc.upstreamPath = removeDotSegments(rc.upstreamPath[:0], path)
		var ok bool
		if rc.matchPath, ok = matchPath(rc.matchPath[:0], rc.upstreamPath, o); !ok {
			return false
		}
	}
	if o.DeleteURITailSlash && len(rc.upstreamPath) > 1 && rc.upstreamPath[len(rc.upstreamPath)-1] == '/' {
		rc.upstreamPath = rc.upstreamPath[:len(rc.upstreamPath)-1]
	}
	host := h.Host()
	if len(target) > 0 && target[0] != '/' {
		host = rc.fc.URI().Host() // absolute-form: the target's authority wins (RFC 9112 §3.2.2)
	}
	rc.host = appendHostLower(rc.host[:0], host)
	return true
}

// plainPath reports an origin-form path without dot segments, percent-escapes or empty
// segments: removeDotSegments and matchPath leave it as it is.
func plainPath(p []byte) bool {
	return len(p) > 0 && p[0] == '/' && bytes.IndexByte(p, '%') < 0 &&
		!bytes.Contains(p, dotSlash) && !bytes.Contains(p, slashSlash)
}

var slashSlash = []byte("//")

// appendHostLower appends host without its port, lower-cased ($host).
func appendHostLower(dst, host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i > 0 {
			host = host[:i+1]
		}
	} else if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	for _, c := range host {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// serve routes and answers rc. It returns true when the response streams on after the handler
// returns (the stream writer then owns rc).
func (s *Server) serve(rc *reqCtx) (streaming bool) {
	fc := rc.fc
	if s.opts.Snapshots == nil {
		writeNotFound(fc)
		return false
	}
	rc.snap = s.opts.Snapshots.Load()
	// the router request lives in rc: Match's interface use would move a local to the heap
	rc.match = router.Request{
		Path:       rc.matchPath,
		Host:       rc.host,
		Method:     fc.Request.Header.Method(),
		RemoteAddr: rc.remote,
		Vars:       rc,
	}
	m := rc.snap.Router.Match(&rc.match, &rc.params)
	rc.matched = m
	if m == nil {
		s.serveUnmatched(rc) // global rules run before the 404, as in APISIX
		return s.answeredStreaming(rc)
	}
	rc.route = m.Value.(*snapshot.Route)
	r := rc.route
	switch {
	case r.Failure != nil:
		s.log.Error("route cannot be served", "route", r.ID, "reason", r.Failure.Reason)
		writeErrorPage(fc, r.Failure.Status)
		return false
	case r.Unsupported != "":
		// fail closed: never proxied without a plugin it was configured with
		writeJSONError(fc, fasthttp.StatusServiceUnavailable,
			"plugin "+r.Unsupported+" is configured on route "+r.ID+" but not available in this build")
		return false
	}
	if s.runRequestPhases(rc) {
		s.runHeaderFilter(rc)
		return s.answeredStreaming(rc)
	}
	return s.forward(rc)
}

func writeNotFound(fc *fasthttp.RequestCtx) {
	fc.SetStatusCode(fasthttp.StatusNotFound)
	fc.Response.Header.SetContentType("text/plain")
	fc.Response.SetBodyRaw(routeNotFound)
}
