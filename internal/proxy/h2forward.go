package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/upstream"
)

// Forwarding for requests that arrived over HTTP/2. To http/https nodes the request goes
// out as HTTP/1.1 on the node's keep-alive pool with the HTTP/1.1 engine's retry rules (as
// nginx does); to grpc/grpcs nodes it goes out over HTTP/2, streaming both ways, with the
// response trailers passed on. Response bodies stream, flushed per chunk; a node failing
// mid-body resets the client's stream rather than ending it as if complete.

// forwardH2ToH1 sends the request to an HTTP/1.1 node.
func (s *Server) forwardH2ToH1(w http.ResponseWriter, hc *h2Ctx, u *upstream.Upstream) {
	r, rt := hc.r, hc.route
	if u.CHash() {
		hc.hashBuf = u.AppendHashKey(hc.hashBuf[:0], hc)
		hc.attempt.HashKey = hc.hashBuf
	}
	n := u.Pick(&hc.attempt)
	if n == nil {
		s.gatewayErrorH2(w, hc, http.StatusServiceUnavailable)
		return
	}
	// before_proxy sees the picked node; the request built next carries its changes
	if s.beforeProxyH2(w, hc) {
		return
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	hc.buildH1Request(req, u)
	rctl := http.NewResponseController(w)
	var body h2RequestBody
	defer body.release()
	if err := body.prepare(r, rctl, req, s.opts.ClientBodyTimeout); err != nil {
		s.log.Info("client request body", "error", err, "route", rt.ID)
		s.gatewayErrorH2(w, hc, bodyErrorStatus(err))
		return
	}
	idempotent := upstream.IsIdempotent(hc.method)
	t := u.Timeouts(rt.Timeout)
	var deadline time.Time
	if d := u.RetryTimeout(); d > 0 {
		deadline = time.Now().Add(d)
	}
	var c *upstream.Conn
	var err error
	var tryStart time.Time
	for try, stale := 0, 0; ; {
		setNodeHost(req, u, n)
		tryStart = time.Now()
		hc.info.tryStarted(n, tryStart)
		c, err = n.Acquire(r.Context(), t)
		if err == nil {
			resp.Reset()
			resp.StreamBody = true
			if err = upstream.RoundTrip(c, req, resp); err == nil {
				break
			}
			c.Release(false)
			c = nil
		}
		if body.cb.failed {
			s.log.Info("client request body", "error", body.cb.err, "route", rt.ID)
			s.gatewayErrorH2(w, hc, bodyErrorStatus(body.cb.err))
			return
		}
		if r.Context().Err() != nil {
			return // the client reset the stream
		}
		if upstream.IsStale(err) && stale < maxStaleRetries && upstream.CanRetry(err, idempotent, body.rewind(req)) {
			stale++
			continue
		}
		hc.statuses = appendStatus(hc.statuses, upstream.Status(err))
		hc.info.tryAnswered(upstream.Status(err), err)
		s.log.Warn("upstream try failed", "route", rt.ID, "node", n.Addr, "try", try+1, "error", err)
		if try >= u.Retries() || !upstream.CanRetry(err, idempotent, body.rewind(req)) ||
			!deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		if n = u.Pick(&hc.attempt); n == nil {
			break
		}
		try++
		if hc.plug.rt.Active() {
			// APISIX re-runs before_proxy on every retry, after the new node was picked
			if s.beforeProxyH2(w, hc) {
				return
			}
			hc.buildH1Request(req, u)
			body.reattach(req)
		}
	}
	if err != nil {
		s.gatewayErrorH2(w, hc, upstream.Status(err))
		return
	}
	var rtt time.Duration
	if u.Spec.Type == "ewma" {
		rtt = time.Since(tryStart)
	}
	hc.statuses = appendStatus(hc.statuses, resp.StatusCode())
	hc.info.tryAnswered(resp.StatusCode(), nil)
	s.respondH1ToH2(w, rctl, hc, c, resp, rtt)
	hc.info.bodyDone()
}

// respondH1ToH2 writes an HTTP/1.1 node's response to the HTTP/2 client: header_filter on
// its head, then body_filter over the body (whole when it was read with the head, else
// chunk by chunk as it streams).
func (s *Server) respondH1ToH2(w http.ResponseWriter, rctl *http.ResponseController, hc *h2Ctx,
	c *upstream.Conn, resp *fasthttp.Response, rtt time.Duration) {
	status := resp.StatusCode()
	if status == http.StatusSwitchingProtocols {
		// HTTP/2 has no protocol switch; never accept one the client did not ask for
		c.Release(false)
		s.gatewayErrorH2(w, hc, http.StatusBadGateway)
		return
	}
	h := w.Header()
	hc.takeUpstreamHead(h)
	copyH1ResponseHeader(h, &resp.Header)
	if status >= 500 && status <= 599 {
		h.Set(hdrUpstreamStatus, string(hc.statuses))
	}
	hc.status = status
	cl := resp.Header.ContentLength()
	filters := hc.plug.rt.HasBodyFilters()
	body := c.Body()
	if body == nil {
		// small body, already read: hand the connection back before writing
		data := resp.Body()
		c.Release(true)
		switch {
		case len(data) > 0 || cl == 0:
			h.Set("Content-Length", strconv.Itoa(len(data)))
		case cl > 0: // HEAD: the length the body would have
			h.Set("Content-Length", strconv.Itoa(cl))
		}
		s.runHeaderFilterH2(hc)
		if filters {
			data = hc.filterChunk(data, true)
			if len(data) > 0 || cl <= 0 {
				h.Set("Content-Length", strconv.Itoa(len(data)))
			}
		}
		s.armSendTimeout(rctl, hc)
		w.WriteHeader(hc.Status())
		_, _ = w.Write(data)
		hc.attempt.Finish(rtt)
		return
	}
	defer body.Close()
	// A client resetting its stream must not leave the node's connection waiting for data
	// nobody will read (the HTTP/2 path sees the reset only here, not on a write).
	stop := context.AfterFunc(hc.r.Context(), func() { _ = c.NetConn().Close() })
	defer stop()
	if cl >= 0 {
		h.Set("Content-Length", strconv.Itoa(cl)) // seen by header_filter, as on HTTP/1.1
	}
	s.runHeaderFilterH2(hc)
	if filters {
		h.Del("Content-Length") // a body filter may change the length
	}
	w.WriteHeader(hc.Status())
	_ = rctl.Flush() // SSE: the head goes out before the first event
	if upErr, _ := s.streamToClient(w, rctl, body, hc); upErr != nil {
		abortStream(body)
	}
	hc.attempt.Finish(rtt)
}

// forwardH2 sends the request to an HTTP/2 node (grpc, grpcs). Only connection failures
// move to another node: by then no byte of the request left Sluice.
func (s *Server) forwardH2(w http.ResponseWriter, hc *h2Ctx, u *upstream.Upstream) {
	r, rt := hc.r, hc.route
	if u.CHash() {
		hc.hashBuf = u.AppendHashKey(hc.hashBuf[:0], hc)
		hc.attempt.HashKey = hc.hashBuf
	}
	n := u.Pick(&hc.attempt)
	if n == nil {
		s.gatewayErrorH2(w, hc, http.StatusServiceUnavailable)
		return
	}
	// before_proxy sees the picked node; the request built next carries its changes
	if s.beforeProxyH2(w, hc) {
		return
	}
	t := u.Timeouts(rt.Timeout)
	var deadline time.Time
	if d := u.RetryTimeout(); d > 0 {
		deadline = time.Now().Add(d)
	}
	header := hc.h2RequestHeader()
	target := &url.URL{Opaque: string(hc.upstreamPath), RawQuery: string(hc.query), ForceQuery: hc.query != nil}
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		// the transport closes a request body on failure; the client's must stay readable
		// for the next try, and the server closes it when the handler returns
		body = &countingBody{r: r.Body}
	}
	var resp *http.Response
	var err error
	var tryStart time.Time
	for try := 0; ; try++ {
		req := &http.Request{
			Method:        r.Method,
			URL:           target,
			Proto:         "HTTP/2.0",
			ProtoMajor:    2,
			Header:        header,
			Host:          hc.h2UpstreamHost(u, n),
			ContentLength: r.ContentLength,
		}
		if body != nil {
			req.Body = body
		}
		req = req.WithContext(r.Context())
		tryStart = time.Now()
		hc.info.tryStarted(n, tryStart)
		if resp, err = n.RoundTripH2(req, t); err == nil {
			break
		}
		if r.Context().Err() != nil {
			return // the client reset the stream
		}
		hc.statuses = appendStatus(hc.statuses, upstream.Status(err))
		hc.info.tryAnswered(upstream.Status(err), err)
		s.log.Warn("upstream try failed", "route", rt.ID, "node", n.Addr, "try", try+1, "error", err)
		if try >= u.Retries() || !upstream.IsConnectError(err) || body != nil && body.n.Load() > 0 ||
			!deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		if n = u.Pick(&hc.attempt); n == nil {
			break
		}
		if hc.plug.rt.Active() {
			// APISIX re-runs before_proxy on every retry, after the new node was picked;
			// nothing of the body was sent yet, so only the head is rebuilt
			if s.beforeProxyH2(w, hc) {
				return
			}
			header = hc.h2RequestHeader()
			target = &url.URL{Opaque: string(hc.upstreamPath), RawQuery: string(hc.query), ForceQuery: hc.query != nil}
		}
	}
	if err != nil {
		st := upstream.Status(err)
		if hc.limBody != nil && hc.limBody.over.Load() {
			st = http.StatusRequestEntityTooLarge // the call failed on the client's body
		}
		s.gatewayErrorH2(w, hc, st)
		return
	}
	defer resp.Body.Close()
	var rtt time.Duration
	if u.Spec.Type == "ewma" {
		rtt = time.Since(tryStart)
	}
	hc.statuses = appendStatus(hc.statuses, resp.StatusCode)
	hc.info.tryAnswered(resp.StatusCode, nil)
	s.respondH2(w, hc, resp)
	hc.info.bodyDone()
	hc.attempt.Finish(rtt)
}

// respondH2 writes an HTTP/2 node's response: head (after header_filter), body as it arrives
// (through body_filter), then its trailers.
func (s *Server) respondH2(w http.ResponseWriter, hc *h2Ctx, resp *http.Response) {
	h := w.Header()
	hc.takeUpstreamHead(h)
	copyH2ResponseHeader(h, resp.Header)
	if resp.StatusCode >= 500 && resp.StatusCode <= 599 {
		h.Set(hdrUpstreamStatus, string(hc.statuses))
	}
	hc.status = resp.StatusCode
	s.runHeaderFilterH2(hc)
	if hc.plug.rt.HasBodyFilters() {
		h.Del("Content-Length") // a body filter may change the length
	}
	w.WriteHeader(hc.Status())
	rctl := http.NewResponseController(w)
	// A gRPC "trailers-only" answer (an error status in the head, no body) must reach the
	// client as one HEADERS frame ending the stream: flushing it early would split it.
	if _, trailersOnly := resp.Header["Grpc-Status"]; !trailersOnly {
		_ = rctl.Flush()
	}
	upErr, clientErr := s.streamToClient(w, rctl, resp.Body, hc)
	switch {
	case upErr != nil:
		abortStream(resp.Body)
	case clientErr != nil:
		return
	}
	for k, vs := range resp.Trailer {
		if len(vs) > 0 {
			h[http.TrailerPrefix+k] = vs
		}
	}
}

// streamToClient copies a node's body to the client through the body filters, flushing
// each chunk as it arrives; the filters see eof once, also when the last read carried no
// bytes. upErr is the node's error (nil at the body's end), clientErr the client's.
// armSendTimeout bounds the next write to an HTTP/3 client by send_timeout (HTTP/2 has its
// WriteByteTimeout; quic-go has no such setting).
func (s *Server) armSendTimeout(rctl *http.ResponseController, hc *h2Ctx) {
	if hc.h3 {
		_ = rctl.SetWriteDeadline(time.Now().Add(s.opts.SendTimeout))
	}
}

func (s *Server) streamToClient(w io.Writer, rctl *http.ResponseController, src io.Reader, hc *h2Ctx) (upErr, clientErr error) {
	bp := bodyBufPool.Get().(*[]byte)
	defer bodyBufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		eof := errors.Is(err, io.EOF)
		chunk := buf[:n]
		if n > 0 || eof {
			chunk = hc.filterChunk(chunk, eof)
		}
		if len(chunk) > 0 {
			s.armSendTimeout(rctl, hc)
			if _, werr := w.Write(chunk); werr != nil {
				return nil, werr
			}
			if werr := rctl.Flush(); werr != nil {
				return nil, werr
			}
		}
		if eof {
			return nil, nil
		}
		if err != nil {
			s.log.Warn("response body", "route", routeID(hc.route), "error", err)
			return err, nil
		}
	}
}

// abortStream ends the client's stream with RST_STREAM after a node failed mid-body, so
// the truncated response cannot look complete (http.ErrAbortHandler: the server resets the
// stream without logging).
func abortStream(body io.Closer) {
	_ = body.Close()
	panic(http.ErrAbortHandler)
}

// h2RequestBody is the client's body for an HTTP/1.1 node, read like the HTTP/1.1 engine's
// (prepareBody): up to bodyBufferSize first, so a body that fits is sent with a length and
// can be retried; a longer one streams on after that prefix and is not retried once more of
// it was read. Each read may wait client_body_timeout.
type h2RequestBody struct {
	cb         clientBody
	buf        *[]byte
	prefix     prefixReader
	whole      bool
	prefetched int64
	cl         int
}

// prepare sets req's body; the error is the client's (its body broke or was too large).
func (b *h2RequestBody) prepare(r *http.Request, rctl *http.ResponseController, req *fasthttp.Request, timeout time.Duration) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	b.cl = int(r.ContentLength) // -1: unknown, sent chunked
	b.cb = clientBody{r: r.Body, conn: rctl, timeout: timeout}
	b.buf = bodyBufPool.Get().(*[]byte)
	buf := *b.buf
	n := 0
	var err error
	for n < len(buf) && err == nil {
		var m int
		m, err = b.cb.Read(buf[n:])
		n += m
	}
	switch {
	case err == io.EOF:
		req.SetBodyRaw(buf[:n])
		b.whole = true
		b.prefix.b = buf[:n] // for reattach
	case err != nil:
		return err
	default:
		b.prefix = prefixReader{b: buf[:n], rest: &b.cb}
		req.SetBodyStream(&b.prefix, b.cl)
		b.prefetched = b.cb.n
	}
	return nil
}

// rewind prepares the body for another try and reports whether it can be sent again.
func (b *h2RequestBody) rewind(req *fasthttp.Request) bool {
	switch {
	case b.buf == nil, b.whole:
		return true
	case b.cb.n == b.prefetched:
		b.prefix.off = 0
		req.SetBodyStream(&b.prefix, b.cl)
		return true
	}
	return false
}

// reattach puts the prepared body back on req after it was rebuilt for another try (rewind
// already checked that it can be sent again).
func (b *h2RequestBody) reattach(req *fasthttp.Request) {
	switch {
	case b.buf == nil:
	case b.whole:
		req.SetBodyRaw(b.prefix.b)
	default:
		b.prefix.off = 0
		req.SetBodyStream(&b.prefix, b.cl)
	}
}

func (b *h2RequestBody) release() {
	if b.buf != nil {
		bodyBufPool.Put(b.buf)
		b.buf = nil
	}
}

// countingBody is a request body lent to the HTTP/2 transport: it counts what was read and
// ignores Close, which belongs to the server.
type countingBody struct {
	r io.Reader
	n atomic.Int64 // read by the transport's writer goroutine
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }
