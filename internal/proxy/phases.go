package proxy

import (
	"errors"
	"io"
	"net/http"

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
// engine-neutral helpers below (requestPhases, unmatchedPhases, ownResponse, logPhase):
//
//   - runRequestPhases runs rewrite, access and before_proxy in APISIX 3.18's order: global
//     rewrite, route rewrite, consumer merge (+ rewrite of the consumer's new plugins),
//     global access, route access, before_proxy. A plugin that ends the request sets the
//     response and returns true: nothing is forwarded, but header_filter, body_filter and
//     log still run.
//   - runHeaderFilter runs on the response head before it is written (upstream's or a
//     plugin's); body filters see the body one chunk at a time with an eof flag
//     (filterBody, filterStream), so a streamed body stays streamed.
//   - runLog runs after the last byte was handed to the client; it may only enqueue work.
//
// before_proxy runs once, before the first try (APISIX re-runs it on every retry).

// runRequestPhases returns true when a plugin answered the request itself.
func (s *Server) runRequestPhases(rc *reqCtx) (answered bool) {
	rc.plug.rt.Begin(rc.snap.Plugins, true, rc.route.Chain)
	return requestPhases(&rc.plug, rc)
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

// requestPhases runs rewrite, access and before_proxy for a matched route once ps.rt began;
// true means the request was answered (by a plugin, or 413 for a body a plugin broke).
func requestPhases(ps *pluginState, c plugin.Ctx) (answered bool) {
	if !ps.rt.Active() {
		return false
	}
	if ps.rt.RunRewrite(c) || ps.rt.RunAccess(c) || ps.rt.RunBeforeProxy(c) {
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

// ownResponse reports a response the gateway made itself (a plugin's exit, the 404): its
// whole body goes through the body filters at once, and no upstream head replaced the
// response headers plugins set.
func ownResponse(ps *pluginState, route *snapshot.Route) bool { return ps.exited || route == nil }

// logPhase runs the log phase.
func logPhase(ps *pluginState, c plugin.Ctx) {
	if ps.rt.Active() {
		ps.rt.RunLog(c)
	}
}

// runHeaderFilter runs the header_filter phase on the response about to be written. On an
// upstream's response it first restores the response headers plugins set before
// forwarding; on a response the gateway made itself (exit, 404) the body filters run on its
// whole body here too.
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
	if own && ps.rt.HasBodyFilters() {
		resp := &rc.fc.Response
		out := ps.rt.RunBodyFilter(rc, resp.Body(), true)
		resp.SetBody(out)
	}
}

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
func (s *Server) runLog(rc *reqCtx) { logPhase(&rc.plug, rc) }
