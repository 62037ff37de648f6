package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/upstream"
)

// forward sends rc to the route's upstream with APISIX's retry rules and writes the response.
// It returns true when the response body streams on after the handler returns.
func (s *Server) forward(rc *reqCtx) (streaming bool) {
	fc := rc.fc
	r := rc.route
	u := upstreamFor(rc.upOverride, r.Upstream)
	if u == nil || len(u.Nodes()) == 0 {
		// upstream.set_by_route: "missing upstream configuration" / "no valid upstream node"
		s.gatewayError(rc, fasthttp.StatusServiceUnavailable)
		return false
	}
	websocket := r.EnableWebsocket && isWebSocketUpgrade(&fc.Request.Header)
	if rc.upReq == nil {
		rc.upReq, rc.upResp = new(fasthttp.Request), new(fasthttp.Response)
	}
	req, resp := rc.upReq, rc.upResp
	rc.statuses = rc.statuses[:0]
	if u.CHash() {
		rc.hashBuf = u.AppendHashKey(rc.hashBuf[:0], rc)
		rc.attempt.HashKey = rc.hashBuf
	}
	n := u.Pick(&rc.attempt)
	if n == nil {
		s.gatewayError(rc, fasthttp.StatusServiceUnavailable) // "no valid upstream node"
		return false
	}
	// before_proxy sees the picked node; the request built next carries its changes
	if s.runBeforeProxy(rc) {
		return s.answeredStreaming(rc)
	}
	rc.buildUpstreamRequest(req, u, websocket)

	if !s.prepareBody(rc, req) {
		return false
	}
	idempotent := upstream.IsIdempotent(fc.Request.Header.Method())
	// a body streamed from the client may make the first write wait for it
	streamedBody := rc.bodyBuf != nil && !rc.bodyWhole
	t := u.Timeouts(r.Timeout)
	var deadline time.Time
	if d := u.RetryTimeout(); d > 0 {
		deadline = time.Now().Add(d)
	}

	var err error
	var c *upstream.Conn
	for try, stale := 0, 0; ; {
		setNodeHost(req, u, n)
		// one monotonic reading per try serves the try's timing, the pool's idle check and
		// the first write's deadline check
		now := upstream.MonoNow()
		rc.info.tryStartedMono(n, now)
		if u.Spec.Type == "ewma" {
			rc.tryStart = now
		}
		c, err = n.AcquireAt(context.Background(), t, now)
		if err == nil {
			if !streamedBody {
				c.WriteAt(now) // nothing waits for the client before the first write
			}
			resp.Reset()
			resp.StreamBody = true
			err = upstream.RoundTrip(c, req, resp)
			if err == nil {
				break
			}
			c.Release(false)
			c = nil
		}
		if rc.body.failed {
			// the client's body broke (bad chunk syntax, timeout, reset): its fault, 400
			s.log.Info("client request body", "error", rc.body.err, "route", r.ID)
			s.rejectBody(rc, bodyErrorStatus(rc.body.err))
			return false
		}
		if upstream.IsStale(err) && stale < maxStaleRetries && upstream.CanRetry(err, idempotent, rc.rewindBody()) {
			// a pooled connection the node closed while idle: like nginx, try the same
			// node on another connection without counting it against retries
			stale++
			continue
		}
		rc.statuses = appendStatus(rc.statuses, upstream.Status(err))
		rc.info.tryAnsweredMono(upstream.Status(err), err, 0)
		s.log.Warn("upstream try failed", "route", r.ID, "node", n.Addr, "try", try+1, "error", err)
		if try >= u.Retries() || !upstream.CanRetry(err, idempotent, rc.rewindBody()) ||
			!deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		if n = u.Pick(&rc.attempt); n == nil {
			break // every node tried: answer the last error
		}
		try++
		if rc.plug.rt.Active() {
			// APISIX re-runs before_proxy on every retry, after the new node was picked
			if s.runBeforeProxy(rc) {
				if rc.bodyBuf != nil && !rc.bodyWhole {
					fc.SetConnectionClose() // the rest of the client's body was never read
				}
				return s.answeredStreaming(rc)
			}
			rc.buildUpstreamRequest(req, u, websocket)
			rc.reattachBody(req)
		}
	}
	if err != nil {
		s.gatewayError(rc, upstream.Status(err))
		if rc.bodyBuf != nil && !rc.bodyWhole {
			fc.SetConnectionClose() // the rest of the client's body was never read
		}
		return false
	}
	rc.conn = c
	now := upstream.MonoNow()
	rc.answered = now
	if rc.tryStart != 0 {
		rc.rtt = time.Duration(now - rc.tryStart) // connect + response head, as APISIX's ewma measures
	}
	rc.statuses = appendStatus(rc.statuses, resp.StatusCode())
	rc.info.tryAnsweredMono(resp.StatusCode(), nil, now)
	return s.respond(rc, websocket)
}

// rejectBody answers a request whose body broke on the way in (400, 408) and closes the
// connection, as reject does, with the page going through the filters.
func (s *Server) rejectBody(rc *reqCtx, status int) {
	s.gatewayError(rc, status)
	rc.fc.SetConnectionClose()
	rc.fc.Request.CloseBodyStream() //nolint:errcheck
}

// reattachBody puts the prepared request body back on req after it was rebuilt for another
// try (rewindBody already checked that it can be sent again).
func (rc *reqCtx) reattachBody(req *fasthttp.Request) {
	switch {
	case rc.bodyBuf == nil:
	case rc.bodyWhole:
		req.SetBodyRaw(rc.prefix.b)
	default:
		rc.prefix.off = 0
		req.SetBodyStream(&rc.prefix, rc.fc.Request.Header.ContentLength())
	}
}

// maxStaleRetries bounds the free retries on pooled connections found closed.
const maxStaleRetries = 2

// bodyBufferSize bounds how much of a request body is read before the node is contacted.
const bodyBufferSize = 64 << 10

var bodyBufPool = sync.Pool{New: func() any { b := make([]byte, bodyBufferSize); return &b }}

// prepareBody sets the request body. Up to bodyBufferSize of it is read first, like nginx's
// request buffering but bounded: a body that fits is validated (bad chunk syntax is a 400
// before any node sees the request), sent with a Content-Length and can be sent again on a
// retry; a longer one is streamed on after that prefix as it arrives, never held whole, and
// is not retried once more of it was read. It returns false when it answered the request.
func (s *Server) prepareBody(rc *reqCtx, req *fasthttp.Request) bool {
	fc := rc.fc
	cl := fc.Request.Header.ContentLength()
	if cl <= 0 && cl != -1 {
		return true
	}
	rc.body = clientBody{r: fc.RequestBodyStream(), conn: fc.Conn(), timeout: s.opts.ClientBodyTimeout, limit: &rc.maxBody}
	rc.bodyBuf = bodyBufPool.Get().(*[]byte)
	buf := *rc.bodyBuf
	n := 0
	var err error
	for n < len(buf) && err == nil {
		var m int
		m, err = rc.body.Read(buf[n:])
		n += m
	}
	switch {
	case err == io.EOF:
		req.SetBodyRaw(buf[:n])
		rc.bodyWhole = true
		rc.prefix.b = buf[:n] // for reattachBody
	case err != nil:
		s.log.Info("client request body", "error", err, "route", rc.route.ID)
		s.rejectBody(rc, bodyErrorStatus(err))
		return false
	default:
		rc.prefix = prefixReader{b: buf[:n], rest: &rc.body}
		req.SetBodyStream(&rc.prefix, cl)
		rc.prefetched = rc.body.n
	}
	return true
}

// bodyErrorStatus is nginx's answer to a failed request body: 408 when the client stalled
// past client_body_timeout, else 400 (bad chunk syntax, a reset).
func bodyErrorStatus(err error) int {
	if errors.Is(err, errMaxBodySize) {
		return fasthttp.StatusRequestEntityTooLarge
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// rewindBody prepares the body for another try and reports whether it can be sent again.
func (rc *reqCtx) rewindBody() bool {
	switch {
	case rc.bodyBuf == nil, rc.bodyWhole:
		return true
	case rc.body.n == rc.prefetched:
		rc.prefix.off = 0 // nothing past the buffered prefix was read
		rc.upReq.SetBodyStream(&rc.prefix, rc.fc.Request.Header.ContentLength())
		return true
	}
	return false
}

// prefixReader reads the buffered prefix of a body, then the rest from the client.
type prefixReader struct {
	b    []byte
	off  int
	rest io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.off < len(p.b) {
		n := copy(b, p.b[p.off:])
		p.off += n
		return n, nil
	}
	return p.rest.Read(b)
}

func appendStatus(dst []byte, st int) []byte {
	if len(dst) > 0 {
		dst = append(dst, ", "...)
	}
	return strconv.AppendInt(dst, int64(st), 10)
}

// respond writes the upstream response to the client: buffered bodies at once, others
// streamed as they arrive (flushed per chunk), 101 to a WebSocket request piped both ways.
func (s *Server) respond(rc *reqCtx, websocket bool) (streaming bool) {
	fc, resp, c := rc.fc, rc.upResp, rc.conn
	status := resp.StatusCode()
	switchProto := status == fasthttp.StatusSwitchingProtocols
	rc.copyResponseHeader(resp, websocket && switchProto)
	if status >= 500 && status <= 599 {
		// APISIX header_filter: the statuses of every try, as nginx's $upstream_status
		fc.Response.Header.SetBytesV(hdrUpstreamStatus, rc.statuses)
	}
	s.runHeaderFilter(rc)

	if switchProto {
		if !websocket {
			// never accept a protocol switch the client did not ask for (CVE-2024-23326)
			c.Release(false)
			rc.conn = nil
			fc.Response.Header.Reset()
			fc.Response.Header.SetServerBytes(s.serverHdr)
			writeErrorPage(fc, fasthttp.StatusBadGateway)
			return false
		}
		s.tunnel(rc)
		return false
	}

	body := c.Body()
	if body == nil {
		// small body, already read: hand the connection back before writing
		// without plugins only copies happened since the head was read: its clock reading
		// stands for the release
		idleSince := rc.answered
		if rc.plug.rt.Active() {
			idleSince = 0
		}
		if rc.hasBodyFilters() {
			s.setFilteredBody(rc, s.filterBody(rc, resp.Body(), true))
		} else {
			fc.Response.SetBody(resp.Body())
		}
		c.ReleaseAt(true, idleSince)
		rc.conn = nil
		rc.attempt.Finish(rc.rtt)
		return false // the body came with the head: tryAnswered timed it
	}
	cl := resp.Header.ContentLength()
	if rc.hasBodyFilters() {
		cl = -1 // a body filter may change the length
	}
	rc.stream = responseStream{rc: rc, body: body, conn: fc.Conn(), timeout: s.opts.SendTimeout}
	if cl < 0 && !fc.Request.Header.IsHTTP11() {
		// HTTP/1.0 has no chunked coding: the body ends with the connection, and no length
		// is announced (the node's no longer holds once a body filter may change the body)
		fc.Response.Header.Del(fasthttp.HeaderContentLength)
		s.streamUntilClose(rc)
		return true
	}
	fc.Response.ImmediateHeaderFlush = true // SSE: the head goes out before the first event
	fc.Response.SetBodyStream(&rc.stream, cl)
	return true
}

// isWebSocketUpgrade reports an HTTP/1.1 "Upgrade: websocket" request.
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && eqFold(trimOWS(h.Peek(fasthttp.HeaderUpgrade)), "websocket")
}

// clientBody is the client's request body on its way to the node: each read may wait up to
// client_body_timeout. Read errors are remembered so a failed try is blamed on the client.
type clientBody struct {
	r       io.Reader
	conn    interface{ SetReadDeadline(time.Time) error }
	timeout time.Duration
	armed   time.Time
	// limit is the request's client_max_body_size, read as the body arrives: a plugin may
	// set it (plugin.BodyLimiter) after the body reader was made. nil or 0: unlimited.
	limit  *int64
	n      int64
	failed bool
	err    error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.timeout > 0 {
		now := time.Now()
		if now.Sub(b.armed) >= b.timeout>>7 {
			_ = b.conn.SetReadDeadline(now.Add(b.timeout))
			b.armed = now
		}
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.limit != nil && *b.limit > 0 && b.n > *b.limit {
		err = errMaxBodySize
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.failed, b.err = true, err
	}
	return n, err
}

// errMaxBodySize is a body longer than client_max_body_size, found while reading it (413).
var errMaxBodySize = errors.New("request body larger than client_max_body_size")

// responseStream feeds a streamed upstream body to fasthttp's response writer, which frames
// it (chunked when the length is unknown, flushing after every chunk) after the handler
// returned. Close ends the request: it releases the upstream connection, runs the log phase
// and returns rc to its pool.
type responseStream struct {
	rc      *reqCtx
	body    *upstream.Body
	conn    interface{ SetWriteDeadline(time.Time) error }
	timeout time.Duration
	armed   time.Time
}

func (st *responseStream) Read(p []byte) (int, error) {
	n, err := st.body.Read(p)
	if st.timeout > 0 {
		// send_timeout, armed once the data is here: the client must take each write
		// within it, however long the node took to produce the data
		now := time.Now()
		if now.Sub(st.armed) >= st.timeout>>7 {
			_ = st.conn.SetWriteDeadline(now.Add(st.timeout))
			st.armed = now
		}
	}
	n, err = st.rc.srv.filterStream(st.rc, p, n, err)
	st.rc.info.sent += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		// a node failing mid-body aborts the client connection (never a truncated
		// response that looks complete)
		st.rc.srv.log.Warn("upstream body", "route", st.rc.route.ID, "error", err)
	}
	return n, err
}

func (st *responseStream) Close() error {
	rc := st.rc
	if rc == nil {
		return nil
	}
	st.rc = nil
	st.body.Close()
	rc.info.bodyDone()
	rc.conn = nil
	rc.attempt.Finish(rc.rtt)
	rc.srv.runLog(rc)
	releaseReqCtx(rc)
	return nil
}
