package proxy

import (
	"unsafe"

	"github.com/sluicegw/sluice/internal/accesslog"
	"github.com/sluicegw/sluice/plugin"
)

// logAccess writes the request's access log line (when the access log is on), after the log
// phase, as nginx does.
func (s *Server) logAccess(c plugin.Ctx, shardKey uint64) {
	if s.opts.AccessLog != nil {
		s.opts.AccessLog.Record(c, shardKey)
	}
}

// accesslog.Extra on both engines.

// BodyBytesSent is $body_bytes_sent. Before fasthttp writes a body stream (the log phase of a
// response that is not streamed from the upstream runs first) it is the stream's known length.
// Response.Body must not be called on a stream: it would read the stream into a fixed body.
func (rc *reqCtx) BodyBytesSent() int64 {
	r := &rc.fc.Response
	switch {
	case rc.stream.body != nil || rc.info.sent > 0:
		return rc.info.sent
	case rc.fc.IsHead():
		return 0
	case r.IsBodyStream():
		if cb, ok := r.BodyStream().(*chunkedBody); ok {
			return int64(len(cb.b))
		}
		return max(int64(r.Header.ContentLength()), 0)
	}
	return int64(len(r.Body()))
}

// UpstreamScheme and UpstreamHost fall back to APISIX's nginx.conf presets ("http",
// $http_host) for a request that was not proxied.
func (rc *reqCtx) UpstreamScheme() string {
	if rc.info.upNode == nil || rc.route == nil {
		return "http"
	}
	if u := upstreamFor(rc.upOverride, rc.route.Upstream); u != nil {
		return u.Scheme()
	}
	return "http"
}

func (rc *reqCtx) UpstreamHost() []byte {
	if rc.info.upNode == nil || rc.upReq == nil {
		return rc.fc.Request.Header.Host()
	}
	return rc.upReq.Header.Host()
}

func (rc *reqCtx) UpstreamStatuses() []byte { return rc.statuses }

func (rc *reqCtx) UpstreamURI() []byte {
	if rc.info.upNode == nil || rc.upReq == nil {
		return nil
	}
	return rc.upReq.Header.RequestURI()
}

func (rc *reqCtx) OriginalRequest() (method, target []byte) {
	h := &rc.fc.Request.Header
	return h.Method(), h.RequestURI()
}

func (rc *reqCtx) RawRequestLine() []byte { return rc.rawLine }

func (hc *h2Ctx) BodyBytesSent() int64 { return hc.info.sent }

func (hc *h2Ctx) UpstreamScheme() string {
	if hc.info.upNode == nil || hc.route == nil {
		return "http"
	}
	if u := upstreamFor(hc.upOverride, hc.route.Upstream); u != nil {
		return u.Scheme()
	}
	return "http"
}

// UpstreamHost and UpstreamURI on HTTP/2 report the request as the plugins left it (the
// upstream request itself is not kept past the try).
func (hc *h2Ctx) UpstreamHost() []byte {
	if hc.info.upNode == nil {
		return s2b(hc.r.Host)
	}
	return hc.host
}

func (hc *h2Ctx) UpstreamStatuses() []byte { return hc.statuses }

func (hc *h2Ctx) UpstreamURI() []byte {
	if hc.info.upNode == nil {
		return nil
	}
	return hc.RequestURI()
}

func (hc *h2Ctx) OriginalRequest() (method, target []byte) { return hc.method, hc.target }

// RawRequestLine is nil: the HTTP/2 server refuses unparsable heads before the handler.
func (hc *h2Ctx) RawRequestLine() []byte { return nil }

func h2ShardKey(hc *h2Ctx) uint64 { return uint64(uintptr(unsafe.Pointer(hc)) >> 6) }

var (
	_ accesslog.Extra = (*reqCtx)(nil)
	_ accesslog.Extra = (*h2Ctx)(nil)
)
