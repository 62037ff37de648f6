package proxy

import (
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/snapshot"
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

// The plugin seam, run by internal/pluginrt over the reqCtx's plugin.Ctx (pluginctx.go):
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
	ps := &rc.plug
	ps.rt.Begin(rc.snap.Plugins, true, rc.route.Chain)
	if !ps.rt.Active() {
		return false
	}
	if ps.rt.RunRewrite(rc) || ps.rt.RunAccess(rc) || ps.rt.RunBeforeProxy(rc) {
		return true
	}
	if ps.bodyBroken() {
		// a plugin read part of a body too large to buffer and did not answer: it cannot
		// be forwarded intact
		rc.Exit(fasthttp.StatusRequestEntityTooLarge, nil)
		return true
	}
	return false
}

// serveUnmatched answers a request no route matched: the global rules' rewrite and access
// run first (they may answer it), then APISIX's 404.
func (s *Server) serveUnmatched(rc *reqCtx) {
	ps := &rc.plug
	ps.rt.Begin(rc.snap.Plugins, false, nil)
	if ps.rt.Active() && (ps.rt.RunRewrite(rc) || ps.rt.RunAccess(rc)) {
		s.runHeaderFilter(rc)
		return
	}
	writeNotFound(rc.fc)
	s.runHeaderFilter(rc)
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
	own := ps.exited || rc.route == nil
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
func (s *Server) runLog(rc *reqCtx) {
	if rc.plug.rt.Active() {
		rc.plug.rt.RunLog(rc)
	}
}

// pluginsNeedHTTP1 reports a request the HTTP/2 engine must refuse (503) until it runs
// plugins: the route has a chain, or global rules exist. Serving it without them would
// bypass auth and access control.
func pluginsNeedHTTP1(snap *snapshot.Snapshot, rt *snapshot.Route) bool {
	return rt.Chain != nil || snap.Plugins != nil && (snap.Plugins.Global != nil || snap.Plugins.GlobalBroken != "")
}
