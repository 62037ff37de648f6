package upstream

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/netpoll"
)

// StreamThreshold is the largest Content-Length that RoundTrip still buffers when the caller
// asked for a streamed response: chunked, close-delimited and longer bodies are streamed.
const StreamThreshold = 64 << 10

// maxInterim bounds consecutive 1xx responses before the final one (as fasthttp does).
const maxInterim = 100

// Phase is where an upstream exchange failed.
type Phase uint8

const (
	// PhaseConnect: dialling or the TLS handshake failed; nothing reached the node.
	PhaseConnect Phase = iota + 1
	// PhaseSend: writing the request to the node failed.
	PhaseSend
	// PhaseRequest: the request could not be produced (its body source, normally the
	// client, failed, or it could not be serialised). Not the node's fault: do not retry.
	PhaseRequest
	// PhaseReadHeader: the request was written; reading the response header failed.
	PhaseReadHeader
	// PhaseReadBody: the response header was read; reading its body failed.
	PhaseReadBody
)

var phaseNames = [...]string{"", "connect", "send request", "produce request", "read response header", "read response body"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// Error is a failed exchange with one node, classified for nginx's next-upstream rules.
type Error struct {
	Phase   Phase
	Addr    string // the node, "host:port"
	Sent    bool   // at least one request byte reached the socket
	Reused  bool   // the connection came from the idle pool
	Timeout bool   // a connect, send or read timeout expired
	// InvalidHeader: the node answered something that is not an HTTP/1.x response header
	// (nginx "invalid_header", not in the default proxy_next_upstream).
	InvalidHeader bool
	Err           error
}

func (e *Error) Error() string {
	what := "error"
	switch {
	case e.Timeout:
		what = "timed out"
	case e.InvalidHeader:
		what = "sent invalid header"
	}
	return fmt.Sprintf("upstream %s %s while trying to %s: %v", e.Addr, what, e.Phase, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsConnectError reports whether err happened before a connection to the node existed.
func IsConnectError(err error) bool {
	e := asError(err)
	return e != nil && e.Phase == PhaseConnect
}

// IsTimeout reports whether a connect, send or read timeout expired (nginx answers 504).
func IsTimeout(err error) bool {
	e := asError(err)
	return e != nil && e.Timeout
}

// RequestSent reports whether any byte of the request may have reached the node.
func RequestSent(err error) bool {
	e := asError(err)
	return e != nil && e.Sent
}

// IsStale reports a failure on a pooled connection before any response byte arrived: the
// node most likely closed it while idle. nginx does not count such a try against the
// retries (peer.tries++), but still applies the idempotency rule of CanRetry.
func IsStale(err error) bool {
	e := asError(err)
	return e != nil && e.Reused && !e.Timeout && (e.Phase == PhaseSend || e.Phase == PhaseReadHeader)
}

// CanRetry applies nginx's proxy_next_upstream "error timeout" rules to one failed try:
// connect failures and failures before any request byte was sent move to another node;
// after that only a request whose method is idempotent and whose body can be sent again (not
// a consumed stream) is retried; an invalid response header is not retried, and once the
// response header has arrived nothing is.
func CanRetry(err error, idempotent, bodyReplayable bool) bool {
	e := asError(err)
	if e == nil || e.InvalidHeader {
		return false
	}
	switch e.Phase {
	case PhaseConnect:
		return true
	case PhaseSend, PhaseReadHeader:
		if !e.Sent {
			return bodyReplayable
		}
		return idempotent && bodyReplayable
	}
	return false
}

// Status is the status nginx answers for a failed exchange: 504 on a timeout, else 502.
func Status(err error) int {
	if IsTimeout(err) {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// IsIdempotent reports whether nginx may resend a request with this method to another node
// after it was sent (everything but POST, LOCK and PATCH).
func IsIdempotent(method []byte) bool {
	switch string(method) {
	case "POST", "LOCK", "PATCH":
		return false
	}
	return true
}

// RoundTrip sends req on c and reads the response header and, unless streamed, the body into
// resp. The caller fills req completely (Host, URI, hop-by-hop headers already handled); a
// request body set with req.SetBodyStream(r, -1) goes out chunked as it is read.
//
// When resp.StreamBody is set and the body is chunked, delimited by close or longer than
// StreamThreshold, RoundTrip returns after the header and c.Body() yields the body as it
// arrives; closing that Body releases c. Otherwise the body is in resp and the caller calls
// c.Release(true) (or false to discard the connection). Errors are *Error; after one, c must
// be released (it will be closed). Only a response read to its end on which neither side said
// Connection: close lets Release keep the connection.
func RoundTrip(c *Conn, req *fasthttp.Request, resp *fasthttp.Response) error {
	c.written, c.nread, c.netWErr, c.netRErr, c.timedOut, c.clean = 0, 0, nil, nil, false, false
	c.awaitErr = nil
	c.body = Body{}

	err := req.Write(c.bw)
	if err == nil {
		// FIFO poller: the write waits for the answer (writeAwait) when it is the request's
		// only one: a node cannot have answered (early, say 413 to a long body) before it
		c.await = c.raw != nil && c.written == 0 && c.br.Buffered() == 0 && c.awaitable()
		err = c.bw.Flush()
		c.await = false
	}
	if err != nil {
		if c.netWErr != nil || c.timedOut {
			return c.fail(PhaseSend, err)
		}
		return c.fail(PhaseRequest, err)
	}

	if !netpoll.FIFO && c.br.Buffered() == 0 {
		// Stock runtime only: let the other requests run before reading the answer. A read now
		// would almost always find nothing yet (EAGAIN), costing a syscall and a park/wake
		// through the netpoller; after the yield the response head is usually there. On a
		// saturated core the yielded goroutines wait behind every runnable one, which
		// lengthens the tail; with the stock poller's newest-first order it measured ~15% more
		// req/s for ~15% more p99 (bench case a). With the FIFO poller of the shipped build
		// (docs/netpoll-order.md) the yield turns against both: req/s fell by a third in half
		// the rounds, so there the read parks and the poller wakes it in turn.
		runtime.Gosched()
	}

	stream := resp.StreamBody
	resp.ResetBody()
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	for n := 0; ; n++ {
		if err := resp.Header.Read(c.br); err != nil {
			return c.fail(PhaseReadHeader, err)
		}
		sc := resp.Header.StatusCode()
		if sc < 100 || sc > 199 || sc == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n >= maxInterim {
			return c.fail(PhaseReadHeader, errors.New("too many 1xx informational responses"))
		}
	}
	keepAlive := !resp.ConnectionClose() && !req.Header.ConnectionClose() &&
		resp.Header.StatusCode() != fasthttp.StatusSwitchingProtocols

	if skipBody(resp) {
		c.served++
		c.clean = keepAlive
		return nil
	}
	cl := resp.Header.ContentLength()
	if stream && (cl < 0 || cl > StreamThreshold) {
		resp.StreamBody = true
		if err := resp.ReadBody(c.br, 0); err != nil {
			return c.fail(PhaseReadBody, err)
		}
		c.body = Body{c: c, resp: resp, r: resp.BodyStream(), keepAlive: keepAlive}
		return nil
	}
	resp.StreamBody = false
	err = resp.ReadBody(c.br, 0)
	if err == nil && cl == -1 {
		err = resp.Header.ReadTrailer(c.br)
	}
	resp.StreamBody = stream
	if err != nil {
		return c.fail(PhaseReadBody, err)
	}
	c.served++
	c.clean = keepAlive
	return nil
}

// skipBody mirrors fasthttp's rule: HEAD, 1xx, 204 and 304 responses have no body.
func skipBody(resp *fasthttp.Response) bool {
	sc := resp.Header.StatusCode()
	return resp.SkipBody || sc < 200 || sc == fasthttp.StatusNoContent || sc == fasthttp.StatusNotModified
}

func (c *Conn) fail(p Phase, err error) error {
	c.clean = false
	if p == PhaseReadHeader && errors.Is(err, fasthttp.ErrTimeout) {
		c.timedOut = true
	}
	timeout := c.timedOut || isTimeout(err)
	return &Error{
		Phase: p, Addr: c.node.Addr, Sent: c.written > 0, Reused: c.reused, Timeout: timeout,
		InvalidHeader: p == PhaseReadHeader && !timeout && c.netRErr == nil,
		Err:           err,
	}
}

// Body is a streamed response body on its connection. Read returns data as soon as the node
// sent it; Close must be called exactly once and releases the connection, keeping it only when
// the body was read to its end and keep-alive holds.
type Body struct {
	c         *Conn
	resp      *fasthttp.Response
	r         io.Reader
	keepAlive bool
	eof       bool
}

// Body is the streamed body of the last RoundTrip, or nil when the body was buffered in resp.
// It is valid until Closed.
func (c *Conn) Body() *Body {
	if c.body.c == nil {
		return nil
	}
	return &c.body
}

// Read reads body bytes; errors other than io.EOF are *Error with Phase PhaseReadBody.
func (b *Body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
		return n, io.EOF
	}
	if err != nil {
		return n, b.c.fail(PhaseReadBody, err)
	}
	return n, nil
}

// Complete reports whether the body was read to its end.
func (b *Body) Complete() bool { return b.eof }

// Close ends the stream and releases the connection.
func (b *Body) Close() error {
	c := b.c
	if c == nil || !c.inUse {
		return nil
	}
	keep := b.eof && b.keepAlive
	_ = b.resp.CloseBodyStream()
	if keep {
		c.served++
		c.clean = true
	}
	c.Release(keep)
	return nil
}
