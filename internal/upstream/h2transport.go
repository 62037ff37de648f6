package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// HTTP/2 to grpc and grpcs upstreams (DESIGN.md "The request path", step 5): one
// http2.Transport per Upstream, created on first use and closed with the Upstream. It keeps
// one multiplexed connection per node address; dials are Sluice's (connect timeout, TLS for
// grpcs without verification as for https) so a failed dial is an *Error with PhaseConnect
// that the caller may retry on another node. Response trailers (grpc-status, grpc-message)
// arrive in http.Response.Trailer once the body is read to its end.
//
// x/net/http2 itself resends a request only when the node refused it unprocessed (GOAWAY,
// REFUSED_STREAM on a fresh connection) and the body was not read: nginx's stale-connection
// retry, never after the node saw the request.

// h2Transport is the Upstream's HTTP/2 client.
type h2Transport struct {
	t *http2.Transport
}

// h2ConnectTimeout is the context key carrying a request's connect timeout to the dialer.
type h2ConnectTimeout struct{}

// errReadTimeout is the cause of a request cancelled because the node sent nothing for the
// read timeout.
var errReadTimeout = errors.New("read timeout")

// transportH2 returns the Upstream's HTTP/2 client, creating it on first use.
func (u *Upstream) transportH2() *http2.Transport {
	if h := u.h2.Load(); h != nil {
		return h.t
	}
	h := &h2Transport{t: &http2.Transport{
		AllowHTTP:          true, // grpc: h2c with prior knowledge
		DisableCompression: true, // a proxy passes Content-Encoding through untouched
		DialTLSContext:     u.dialH2,
		IdleConnTimeout:    u.pool.idle,
		WriteByteTimeout:   u.timeout.Send,
	}}
	if !u.h2.CompareAndSwap(nil, h) {
		h = u.h2.Load()
	}
	return h.t
}

// closeH2 closes the idle HTTP/2 connections; streams in flight finish, and their
// connections close when they end (H2Body.Close).
func (u *Upstream) closeH2() {
	if h := u.h2.Load(); h != nil {
		h.t.CloseIdleConnections()
	}
}

// dialH2 dials a node for the HTTP/2 client: plain TCP for grpc, TLS with ALPN h2 for grpcs.
func (u *Upstream) dialH2(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	timeout, _ := ctx.Value(h2ConnectTimeout{}).(time.Duration)
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &Error{Phase: PhaseConnect, Addr: addr, Timeout: isTimeout(err), Err: err}
	}
	if u.tlsConf == nil {
		return nc, nil
	}
	tc := u.tlsConf.Clone()
	tc.NextProtos = []string{http2.NextProtoTLS}
	tc.ServerName = cfg.ServerName // the node host, as Acquire uses
	if u.Spec.PassHost == "rewrite" && u.Spec.UpstreamHost != "" {
		tc.ServerName = u.Spec.UpstreamHost
	}
	if timeout > 0 {
		_ = nc.SetDeadline(time.Now().Add(timeout))
	}
	conn := tls.Client(nc, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, &Error{Phase: PhaseConnect, Addr: addr, Timeout: isTimeout(err), Err: err}
	}
	_ = nc.SetDeadline(time.Time{})
	return conn, nil
}

// RoundTripH2 sends req to n over HTTP/2 and returns once the response header arrived. The
// caller fills req except URL.Scheme and URL.Host, which RoundTripH2 sets for n; req.Host is
// the :authority. req.Body must not be closed by the transport before the caller is done
// with it if the caller wants to retry: wrap it. t.Connect bounds the dial; t.Read is
// nginx's grpc_read_timeout, the longest the node may stay silent, for the header and then
// between body reads. Errors are *Error: PhaseConnect when no connection could be made
// (nothing reached the node), PhaseReadHeader otherwise. The returned body must be closed.
func (n *Node) RoundTripH2(req *http.Request, t Timeouts) (*http.Response, error) {
	u := n.up
	tr := u.transportH2()
	ctx, cancel := context.WithCancelCause(req.Context())
	ctx = context.WithValue(ctx, h2ConnectTimeout{}, t.Connect)
	idle := newIdleTimer(t.Read, cancel)
	out := req.WithContext(ctx)
	url := *req.URL
	url.Scheme, url.Host = "http", n.Addr
	if u.tlsConf != nil {
		url.Scheme = "https"
	}
	out.URL = &url

	resp, err := tr.RoundTrip(out)
	if err != nil {
		idle.stop()
		cancel(nil)
		return nil, n.h2Error(ctx, PhaseReadHeader, err)
	}
	idle.touch()
	resp.Body = &H2Body{rc: resp.Body, node: n, idle: idle, cancel: cancel, ctx: ctx}
	return resp, nil
}

// h2Error classifies a failed HTTP/2 exchange; a dial failure keeps its own *Error.
func (n *Node) h2Error(ctx context.Context, p Phase, err error) error {
	if e := asError(err); e != nil {
		return e
	}
	timeout := errors.Is(context.Cause(ctx), errReadTimeout) || isTimeout(err)
	return &Error{Phase: p, Addr: n.Addr, Sent: true, Timeout: timeout, Err: err}
}

// H2Body is the streamed body of an HTTP/2 response. Each Read may wait up to the read
// timeout; errors other than io.EOF are *Error with PhaseReadBody.
type H2Body struct {
	rc     io.ReadCloser
	node   *Node
	idle   *idleTimer
	cancel context.CancelCauseFunc
	ctx    context.Context
	closed bool
}

func (b *H2Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.idle.touch()
	if err != nil && err != io.EOF {
		return n, b.node.h2Error(b.ctx, PhaseReadBody, err)
	}
	return n, err
}

// Close ends the stream (resetting it when unread data remains) and, when the Upstream was
// closed meanwhile, closes the connections that became idle.
func (b *H2Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.idle.stop()
	err := b.rc.Close()
	b.cancel(nil)
	if b.node.up.closed.Load() {
		b.node.up.closeH2()
	}
	return err
}

// idleTimer cancels a request when nothing arrived for d. touch only stores a timestamp; the
// timer re-arms itself for the remaining time when it fires early, so a busy stream costs
// no timer resets.
type idleTimer struct {
	d      time.Duration
	last   atomic.Int64 // monoNow of the last arrival
	t      *time.Timer
	cancel context.CancelCauseFunc
}

func newIdleTimer(d time.Duration, cancel context.CancelCauseFunc) *idleTimer {
	it := &idleTimer{d: d, cancel: cancel}
	if d <= 0 {
		return it
	}
	it.last.Store(monoNow())
	it.t = time.AfterFunc(d, it.fire)
	return it
}

func (it *idleTimer) fire() {
	if since := time.Duration(monoNow() - it.last.Load()); since < it.d {
		it.t.Reset(it.d - since)
		return
	}
	it.cancel(errReadTimeout)
}

func (it *idleTimer) touch() {
	if it.t != nil {
		it.last.Store(monoNow())
	}
}

func (it *idleTimer) stop() {
	if it.t != nil {
		it.t.Stop()
	}
}
