package proxy

import (
	"io"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// A plugin may pick the request's upstream (traffic-split) and may answer with a body it
// streams rather than holds (proxy-cache serving from disk). Both engines keep the choice
// in their context; forward and the own-response writers read it.

// SetUpstream makes u (an upstream compiled by Env.NewUpstream) the request's upstream;
// nil restores the route's.
func (rc *reqCtx) SetUpstream(u plugin.Upstream) {
	up, _ := u.(*upstream.Upstream)
	rc.upOverride = up
}

// SetUpstreamID makes the upstream object id of the request's snapshot its upstream.
func (rc *reqCtx) SetUpstreamID(id string) bool {
	up := rc.snap.Upstreams[id]
	if up == nil {
		return false
	}
	rc.upOverride = up
	return true
}

func (hc *h2Ctx) SetUpstream(u plugin.Upstream) {
	up, _ := u.(*upstream.Upstream)
	hc.upOverride = up
}

func (hc *h2Ctx) SetUpstreamID(id string) bool {
	up := hc.snap.Upstreams[id]
	if up == nil {
		return false
	}
	hc.upOverride = up
	return true
}

// upstreamFor is the upstream a request goes to: a plugin's choice, else the route's.
func upstreamFor(override *upstream.Upstream, route *upstream.Upstream) *upstream.Upstream {
	u := route
	if override != nil {
		u = override
	}
	if u != nil {
		u = u.Current() // the nodes service discovery found last
	}
	return u
}

// ExitStream ends the request with status and a body read from body as the response is
// written (serve hands it to exitStream after header_filter).
// Unlike Exit with no body it sets no error page, so the Content-Type the plugin set stays.
func (rc *reqCtx) ExitStream(status int, body io.Reader, size int64) {
	rc.plug.exited = true
	rc.fc.SetStatusCode(status)
	rc.fc.Response.ResetBody()
	rc.closeExitBody()
	rc.exitBody, rc.exitSize = body, size
}

func (hc *h2Ctx) ExitStream(status int, body io.Reader, size int64) {
	hc.plug.exited = true
	hc.status = status
	hc.respBody = hc.respBody[:0]
	if hc.exitBody != nil {
		closeReader(hc.exitBody)
	}
	hc.exitBody, hc.exitSize = body, size
}

func closeReader(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}

func (rc *reqCtx) closeExitBody() {
	if rc.exitBody != nil {
		closeReader(rc.exitBody)
		rc.exitBody = nil
	}
}

// streamExit sends a plugin's streamed exit body (after header_filter ran): body filters see
// it chunk by chunk, and the log phase runs when it ends. It returns true when the response
// streams on after the handler returns (exitStream then owns rc).
func (s *Server) streamExit(rc *reqCtx) bool {
	fc := rc.fc
	body := rc.exitBody
	rc.exitBody = nil
	if fc.IsHead() || !bodyAllowed(fc.Response.StatusCode()) {
		closeReader(body)
		return false
	}
	size := rc.exitSize
	if rc.hasBodyFilters() {
		size = -1
	}
	rc.exitSt = exitStream{rc: rc, body: body}
	if size < 0 && !fc.Request.Header.IsHTTP11() {
		// HTTP/1.0 has no chunked coding: the body ends with the connection
		fc.Response.Header.Del(fasthttp.HeaderContentLength)
		s.untilClose(rc, &rc.exitSt, nil)
		return true
	}
	fc.Response.SetBodyStream(&rc.exitSt, int(size))
	return true
}

// answeredStreaming finishes a request a plugin answered: a streamed exit body goes out
// after the handler returns (true: the stream then owns rc).
func (s *Server) answeredStreaming(rc *reqCtx) bool {
	return rc.exitBody != nil && s.streamExit(rc)
}

// exitStream feeds a plugin's exit body to fasthttp's response writer.
type exitStream struct {
	rc   *reqCtx
	body io.Reader
}

func (st *exitStream) Read(p []byte) (int, error) {
	n, err := st.body.Read(p)
	n, err = st.rc.srv.filterStream(st.rc, p, n, err)
	st.rc.info.sent += int64(n)
	return n, err
}

func (st *exitStream) Close() error {
	rc := st.rc
	if rc == nil {
		return nil
	}
	st.rc = nil
	closeReader(st.body)
	rc.srv.runLog(rc)
	releaseReqCtx(rc)
	return nil
}

// writeExitStreamH2 sends hc's streamed exit body after header_filter ran.
func (s *Server) writeExitStreamH2(w http.ResponseWriter, hc *h2Ctx) {
	body := hc.exitBody
	hc.exitBody = nil
	defer closeReader(body)
	status := hc.Status()
	h := w.Header()
	if !bodyAllowed(status) || hc.r.Method == http.MethodHead {
		h.Del("Content-Length")
		w.WriteHeader(status)
		return
	}
	if hc.plug.rt.HasBodyFilters() || hc.exitSize < 0 {
		h.Del("Content-Length")
	} else {
		h.Set("Content-Length", itoa64(hc.exitSize))
	}
	w.WriteHeader(status)
	rctl := http.NewResponseController(w)
	if upErr, _ := s.streamToClient(w, rctl, body, hc); upErr != nil {
		// never a truncated body that looks complete: reset the stream
		abortStream(io.NopCloser(nil))
	}
}

func itoa64(n int64) string { return string(fasthttp.AppendUint(nil, int(n))) }

// VisitRespHeaders lists the response headers as they will be written.
func (rc *reqCtx) VisitRespHeaders(fn func(name, value []byte)) {
	rc.fc.Response.Header.VisitAll(fn)
}

func (hc *h2Ctx) VisitRespHeaders(fn func(name, value []byte)) {
	for k, vs := range hc.w.Header() {
		for _, v := range vs {
			fn([]byte(k), []byte(v))
		}
	}
}

var (
	_ plugin.RespHeaderVisitor = (*reqCtx)(nil)
	_ plugin.RespHeaderVisitor = (*h2Ctx)(nil)
	_ plugin.UpstreamSetter    = (*reqCtx)(nil)
	_ plugin.UpstreamSetter    = (*h2Ctx)(nil)
	_ plugin.StreamExiter      = (*reqCtx)(nil)
	_ plugin.StreamExiter      = (*h2Ctx)(nil)
)
