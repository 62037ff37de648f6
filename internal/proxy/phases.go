package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
)

// Phase is a point of the request lifecycle where plugins run (DESIGN.md "The request path",
// step 4): rewrite → access → before_proxy → (forward) → header_filter → body_filter → log.
type Phase uint8

const (
	PhaseRewrite Phase = iota
	PhaseAccess
	PhaseBeforeProxy
	PhaseHeaderFilter
	PhaseBodyFilter
	PhaseLog
)

var phaseNames = [...]string{"rewrite", "access", "before_proxy", "header_filter", "body_filter", "log"}

func (p Phase) String() string { return phaseNames[p] }

// The plugin seam, run by internal/pluginrt over either engine's plugin.Ctx: reqCtx for
// HTTP/1.1 (pluginctx.go), h2Ctx for HTTP/2 (h2plugin.go). Both drive the same
// engine-neutral helpers below (requestPhases, beforeProxy, unmatchedPhases, ownResponse,
// logPhase):
//
//   - runRequestPhases runs rewrite and access in APISIX 3.18's order: global rewrite, route
//     rewrite, consumer merge (+ rewrite of the consumer's new plugins), global access, route
//     access. A plugin that ends the request sets the response and returns true: nothing is
//     forwarded, but header_filter, body_filter and log still run.
//   - before_proxy runs in the forwarders once a node was picked, before every try (APISIX
//     re-runs it on every retry); the upstream request is rebuilt after it, so its changes
//     reach that try's node. It may end the request like the phases before it.
//   - runHeaderFilter runs on the response head before it is written (upstream's, a
//     plugin's, or the gateway's own error page); body filters see the body one chunk at a
//     time with an eof flag (filterBody, filterStream), so a streamed body stays streamed.
//   - runLog runs after the last byte was handed to the client; it may only enqueue work.

// runRequestPhases returns true when a plugin answered the request itself.
func (s *Server) runRequestPhases(rc *reqCtx) (answered bool) {
	rc.plug.rt.Begin(rc.snap.Plugins, true, rc.route.Chain)
	return requestPhases(&rc.plug, rc)
}

// runBeforeProxy runs before_proxy for the try about to start. When the request was
// answered (a plugin's exit, or 413), that response already went through the filters.
func (s *Server) runBeforeProxy(rc *reqCtx) (answered bool) {
	if !beforeProxy(&rc.plug, rc) {
		return false
	}
	if rc.plug.bodyBroken() {
		rc.fc.SetConnectionClose() // part of the body was read: the rest is not, as nginx closes
	}
	s.runHeaderFilter(rc)
	return true
}

// gatewayError answers with nginx's page for status, a response the gateway made itself
// (upstream unreachable or timed out, no upstream, a broken request body): as in APISIX it
// goes through header_filter and body_filter like a plugin's exit, and log sees it.
func (s *Server) gatewayError(rc *reqCtx, status int) {
	ps := &rc.plug
	if !ps.rt.Active() {
		writeErrorPage(rc.fc, status)
		return
	}
	ps.own = true
	setPageCopy(rc.fc, status)
	s.runHeaderFilter(rc)
}

// serveUnmatched answers a request no route matched: the global rules' rewrite and access
// run first (they may answer it), then APISIX's 404.
func (s *Server) serveUnmatched(rc *reqCtx) {
	if !unmatchedPhases(&rc.plug, rc.snap.Plugins, rc) {
		writeNotFound(rc.fc)
	}
	s.runHeaderFilter(rc)
}

// The engine-neutral halves of the seam: c is either engine's plugin.Ctx and ps its state.

// requestPhases runs rewrite and access for a matched route once ps.rt began; true means a
// plugin answered the request.
func requestPhases(ps *pluginState, c plugin.Ctx) (answered bool) {
	return ps.rt.Active() && (ps.rt.RunRewrite(c) || ps.rt.RunAccess(c))
}

// beforeProxy runs before_proxy for one try; true means the request was answered (by a
// plugin, or 413 for a body a plugin broke).
func beforeProxy(ps *pluginState, c plugin.Ctx) (answered bool) {
	if !ps.rt.Active() {
		return false
	}
	if ps.rt.RunBeforeProxy(c) {
		return true
	}
	if ps.bodyBroken() {
		// a plugin read part of a body too large to buffer and did not answer: it cannot
		// be forwarded intact
		c.Exit(http.StatusRequestEntityTooLarge, nil)
		return true
	}
	return false
}

// unmatchedPhases runs the global rules' rewrite and access for a request no route
// matched; true means one of them answered it (else the engine answers 404).
func unmatchedPhases(ps *pluginState, set *pluginrt.Set, c plugin.Ctx) (answered bool) {
	ps.rt.Begin(set, false, nil)
	return ps.rt.Active() && (ps.rt.RunRewrite(c) || ps.rt.RunAccess(c))
}

// ownResponse reports a response the gateway made itself (a plugin's exit, the 404, its
// error pages): its whole body goes through the body filters at once, and no upstream head
// replaced the response headers plugins set.
func ownResponse(ps *pluginState, route *snapshot.Route) bool {
	return ps.exited || ps.own || route == nil
}

// logPhase runs the log phase.
func logPhase(ps *pluginState, c plugin.Ctx) {
	if ps.rt.Active() {
		ps.rt.RunLog(c)
	}
}

// runHeaderFilter runs the header_filter phase on the response about to be written. On an
// upstream's response it first restores the response headers plugins set before
// forwarding; on a response the gateway made itself (exit, 404, error page) the body
// filters run on its whole body here too.
func (s *Server) runHeaderFilter(rc *reqCtx) {
	ps := &rc.plug
	if !ps.rt.Active() {
		return
	}
	own := ownResponse(ps, rc.route)
	if !own {
		rc.replayRespHeaders()
	}
	ps.rt.RunHeaderFilter(rc)
	if own && ps.rt.HasBodyFilters() && rc.exitBody == nil {
		resp := &rc.fc.Response
		s.setFilteredBody(rc, ps.rt.RunBodyFilter(rc, resp.Body(), true))
	}
}

// setFilteredBody sets a whole response body that went through the body filters. When a
// plugin dropped Content-Length (it re-encodes the body: gzip, brotli), the body goes out
// chunked to an HTTP/1.1 client, as nginx sends it; otherwise with its exact length.
func (s *Server) setFilteredBody(rc *reqCtx, out []byte) {
	fc := rc.fc
	if rc.plug.lengthDropped && fc.Request.Header.IsHTTP11() && !fc.IsHead() &&
		bodyAllowed(fc.Response.StatusCode()) {
		setBodyChunked(fc, out)
		return
	}
	fc.Response.SetBody(out)
}

// chunkedBody is a finished body fasthttp sends chunked (a body stream of unknown length).
// It owns a copy of the bytes: the filters' output is only valid until the log phase, which
// runs before fasthttp writes the response.
type chunkedBody struct {
	b []byte
	r bytes.Reader
}

var chunkedBodyPool = sync.Pool{New: func() any { return new(chunkedBody) }}

func setBodyChunked(fc *fasthttp.RequestCtx, out []byte) {
	cb := chunkedBodyPool.Get().(*chunkedBody)
	cb.b = append(cb.b[:0], out...)
	cb.r.Reset(cb.b)
	fc.Response.SetBodyStream(cb, -1)
}

func (cb *chunkedBody) Read(p []byte) (int, error) { return cb.r.Read(p) }

// Close returns cb to its pool once fasthttp wrote (or dropped) the body.
func (cb *chunkedBody) Close() error {
	cb.r.Reset(nil)
	if cap(cb.b) <= maxPooledChunked {
		cb.b = cb.b[:0]
		chunkedBodyPool.Put(cb)
	}
	return nil
}

// maxPooledChunked bounds the buffers chunkedBodyPool keeps.
const maxPooledChunked = 1 << 20

// filterBody runs body_filter on one chunk; it returns the bytes to send (the chunk itself
// when no filter is configured).
func (s *Server) filterBody(rc *reqCtx, chunk []byte, eof bool) []byte {
	if !rc.plug.rt.HasBodyFilters() {
		return chunk
	}
	return rc.plug.rt.RunBodyFilter(rc, chunk, eof)
}

// filterStream runs the body filters over p[:n], just read from the upstream with err, and
// returns what the stream hands on: output that does not fit p waits for the next Read, and
// the filters see eof once, also when the last read carried no bytes.
func (s *Server) filterStream(rc *reqCtx, p []byte, n int, err error) (int, error) {
	ps := &rc.plug
	if !ps.rt.HasBodyFilters() {
		return n, err
	}
	eof := errors.Is(err, io.EOF)
	if n > 0 || eof && !ps.eofFiltered {
		ps.eofFiltered = ps.eofFiltered || eof
		ps.pending = append(ps.pending, ps.rt.RunBodyFilter(rc, p[:n], eof)...)
	}
	m := copy(p, ps.pending)
	ps.pending = ps.pending[:copy(ps.pending, ps.pending[m:])]
	if eof && len(ps.pending) > 0 {
		err = nil // the rest goes out on the next Read
	}
	return m, err
}

// hasBodyFilters reports whether the response body may be changed by a plugin, so the
// upstream's Content-Length must not be announced.
func (rc *reqCtx) hasBodyFilters() bool { return rc.plug.rt.HasBodyFilters() }

// runLog runs the log phase.
func (s *Server) runLog(rc *reqCtx) {
	logPhase(&rc.plug, rc)
	s.logAccess(rc, rc.fc.ConnID())
}
