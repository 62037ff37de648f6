// Package proxy owns the data-plane HTTP listeners and the request path: the strict HTTP/1.1
// edge (edge.go), URI normalization (normalize.go), the pooled per-request context that
// implements plugin.Vars (reqctx.go), the phase seam where plugins will run (phases.go), and
// forwarding with APISIX's semantics (forward.go, headers.go, websocket.go), and the HTTP/2
// engine with its own request context and forwarding (h2*.go).
//
// Sluice owns the listener (DESIGN.md "The request path", step 0): it accepts every
// connection itself and hands it to an engine — fasthttp for HTTP/1.1, x/net/http2's server
// for connections opening with the HTTP/2 preface (serveConn).
//
// Behaviour worth knowing, each matching APISIX/nginx unless noted:
//   - A request body is read up to 64 KiB before a node is contacted (nginx buffers it all):
//     a body that fits is validated, sent with a Content-Length and can be retried; a longer
//     one streams on as it arrives, never held whole, and is not retried once more of it was
//     read.
//   - X-Forwarded-For is always appended; X-Real-IP, X-Forwarded-Proto/Host/Port from the
//     client count only when the peer is in real_ip_from (127.0.0.1 and unix: by default).
//   - Response bodies up to 64 KiB with a length are read whole; others stream, flushed per
//     chunk (SSE), and a node failing mid-body aborts the client connection.
//   - Errors are nginx's pages with "sluice" where nginx prints its name; 404 and fail-closed
//     routes answer APISIX's {"error_msg": ...}.
package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/accesslog"
	"github.com/sluicegw/sluice/internal/netpoll"

	"github.com/sluicegw/sluice/internal/snapshot"
)

// SnapshotSource publishes the current configuration; *snapshot.Compiler implements it.
// Load is called once per request and must be a single atomic load.
type SnapshotSource interface {
	Load() *snapshot.Snapshot
}

// Options configure the proxy listeners.
type Options struct {
	Addrs []string // host:port to listen on
	// TLSAddrs are the HTTPS listeners (apisix.ssl.listen): TLS with the certificate of
	// the client's SNI from the snapshot's ssl objects, then HTTP/1.1 or, by ALPN, HTTP/2.
	TLSAddrs []string
	// PPAddr and PPTLSAddr are apisix.proxy_protocol's listen_http_port and
	// listen_https_port: their clients send a PROXY protocol header first, whose source is
	// $proxy_protocol_addr (and $remote_addr with real_ip_header proxy_protocol). "" for none.
	PPAddr, PPTLSAddr string
	// HTTP3Addrs are the HTTPS listeners with enable_http3: HTTP/3 (QUIC) on the same UDP
	// port, with the same certificates, routes and plugins as HTTP/2.
	HTTP3Addrs []string
	// FallbackSNI is apisix.ssl.fallback_sni: the name whose certificate a client that
	// sends no SNI gets (none: the handshake fails).
	FallbackSNI string
	ServerName  string // the Server header, "sluice/<version>"
	Logger      *slog.Logger
	// Snapshots gives the configuration each request runs against; nil serves 404 to all.
	Snapshots SnapshotSource
	// AccessLog, when set, gets a line per request after its log phase.
	AccessLog *accesslog.Log

	// URI handling (apisix.delete_uri_tail_slash, normalize_uri_like_servlet,
	// match_uri_encoded_slash).
	DeleteURITailSlash      bool
	NormalizeURILikeServlet bool
	MatchURIEncodedSlash    bool

	// RealIPFrom lists the peers whose X-Real-IP sets $remote_addr and whose
	// X-Forwarded-Proto/Host/Port are passed on (nginx real_ip_from; default 127.0.0.1 and
	// unix:). "unix:" trusts unix-socket peers.
	RealIPFrom []string
	// RealIPHeader is nginx real_ip_header (default X-Real-IP).
	RealIPHeader string
	// RealIPRecursive is nginx real_ip_recursive: the header's addresses are read right to
	// left past the trusted ones (default off: its rightmost address).
	RealIPRecursive bool

	// ClientHeaderTimeout bounds reading a request's line and headers (nginx
	// client_header_timeout, 60 s); KeepaliveTimeout closes an idle keep-alive connection
	// (nginx keepalive_timeout, 60 s); ClientBodyTimeout is the longest gap between two reads
	// of a request body (client_body_timeout, 60 s); SendTimeout the longest gap between two
	// writes to the client (send_timeout, 60 s).
	ClientHeaderTimeout time.Duration
	KeepaliveTimeout    time.Duration
	ClientBodyTimeout   time.Duration
	SendTimeout         time.Duration
	// MaxHeaderBytes caps the request line plus headers (default 32 KiB, nginx's
	// large_client_header_buffers 4 8k); MaxRequestLine caps the request line alone (8 KiB).
	MaxHeaderBytes int
	MaxRequestLine int
	// MaxBodyBytes is client_max_body_size; 0 means unlimited, as in APISIX.
	MaxBodyBytes int64
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ServerName == "" {
		o.ServerName = "sluice"
	}
	if o.RealIPFrom == nil {
		o.RealIPFrom = []string{"127.0.0.1", "unix:"}
	}
	if o.RealIPHeader == "" {
		o.RealIPHeader = "X-Real-IP"
	}
	for _, d := range []*time.Duration{&o.ClientHeaderTimeout, &o.KeepaliveTimeout, &o.ClientBodyTimeout, &o.SendTimeout} {
		if *d <= 0 {
			*d = 60 * time.Second
		}
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 32 << 10
	}
	if o.MaxRequestLine <= 0 {
		o.MaxRequestLine = 8 << 10
	}
}

// Server serves the proxy ports.
type Server struct {
	opts      Options
	h1        *fasthttp.Server
	h2        *h2Engine
	listeners []net.Listener
	lnKinds   map[net.Listener]listenerKind
	tlsConf   *tls.Config
	h3        *http3.Server
	h3Conns   []net.PacketConn
	log       *slog.Logger
	trusted   trustedPeers
	serverHdr []byte
	// realIPKey is real_ip_header as fasthttp normalizes it; realIPXFF: it is
	// X-Forwarded-For, whose every header line nginx reads (others: the first).
	realIPKey   []byte
	realIPCanon string // real_ip_header as net/http keys it (HTTP/2)
	realIPXFF   bool
	realIPPP    bool   // real_ip_header proxy_protocol: the header's source is $remote_addr
	hostname    string // $hostname

	// Connection tracking for the graceful drain. The mutex is taken per connection
	// (accept and close), never per request.
	connMu sync.Mutex
	// stub_status counters, under connMu: connections accepted, requests of closed ones
	accepted, closedReqs int64
	conns                map[*trackedConn]struct{}
	connsWG              sync.WaitGroup
	draining             atomic.Bool
}

// Listen binds every address; a port already in use is an error naming it.
func Listen(o Options) (*Server, error) {
	o.defaults()
	s := &Server{opts: o, log: o.Logger, conns: map[*trackedConn]struct{}{}, serverHdr: []byte(o.ServerName)}
	var err error
	if s.trusted, err = parseTrusted(o.RealIPFrom); err != nil {
		return nil, err
	}
	s.realIPKey = fasthttp.AppendNormalizedHeaderKey(nil, o.RealIPHeader)
	s.realIPCanon = textproto.CanonicalMIMEHeaderKey(o.RealIPHeader)
	s.realIPXFF = strings.EqualFold(o.RealIPHeader, "X-Forwarded-For")
	s.hostname, _ = os.Hostname()
	s.h1 = &fasthttp.Server{
		Handler:      s.handleHTTP1,
		ErrorHandler: s.handleParseError,
		Name:         o.ServerName,
		// ReadTimeout covers a request's line and headers only: the handler moves the
		// deadline per body read (client_body_timeout) once the headers are in.
		ReadTimeout: o.ClientHeaderTimeout,
		IdleTimeout: o.KeepaliveTimeout,
		// send_timeout: bounds writing a buffered response; a streamed one re-arms it
		// per chunk (responseStream).
		WriteTimeout:      o.SendTimeout,
		ReadBufferSize:    o.MaxHeaderBytes,
		WriteBufferSize:   16 << 10,
		StreamRequestBody: true,
		// client_max_body_size is the handler's: a plugin may raise it for a request
		// (client-control), so fasthttp reads any length (the body is streamed).
		MaxRequestBodySize:            maxBody(0),
		DisablePreParseMultipartForm:  true,
		NoDefaultContentType:          true,
		NoDefaultDate:                 false,
		DisableHeaderNamesNormalizing: false,
		// Parse errors name the offending field (edge.go maps them to statuses); they
		// are logged at debug level only.
		SecureErrorLogMessage: false,
		ConnState:             s.connState,
		Logger:                fasthttpLogger{o.Logger},
		// Expect: 100-continue is answered 100 unless the declared body is over
		// client_max_body_size (413, handleExpect).
		ExpectHandler: s.handleExpect,
	}
	s.h2 = newH2Engine(s)
	s.lnKinds = map[net.Listener]listenerKind{}
	s.tlsConf = &tls.Config{GetConfigForClient: s.configForClient}
	s.realIPPP = strings.EqualFold(o.RealIPHeader, "proxy_protocol")
	listen := func(addr string, kind listenerKind) error {
		ln, err := net.Listen(network(addr), addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("proxy listen %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, ln)
		s.lnKinds[ln] = kind
		return nil
	}
	for _, l := range []struct {
		addrs []string
		kind  listenerKind
	}{
		{o.Addrs, listenerKind{}}, {o.TLSAddrs, listenerKind{tls: true}},
		{nonEmpty(o.PPAddr), listenerKind{pp: true}}, {nonEmpty(o.PPTLSAddr), listenerKind{tls: true, pp: true}},
	} {
		for _, addr := range l.addrs {
			if err := listen(addr, l.kind); err != nil {
				return nil, err
			}
		}
	}
	if len(o.HTTP3Addrs) > 0 {
		s.h3 = &http3.Server{
			Handler:   http.HandlerFunc(s.handleHTTP2),
			TLSConfig: http3.ConfigureTLSConfig(&tls.Config{GetConfigForClient: s.configForClient}),
			// nginx's http3 max_concurrent_streams
			QUICConfig:     &quic.Config{MaxIncomingStreams: h2MaxStreams, MaxIdleTimeout: o.KeepaliveTimeout},
			MaxHeaderBytes: o.MaxHeaderBytes,
			IdleTimeout:    o.KeepaliveTimeout,
		}
		for _, addr := range o.HTTP3Addrs {
			pc, err := net.ListenPacket(udpNetwork(addr), addr)
			if err != nil {
				s.closeListeners()
				return nil, fmt.Errorf("proxy listen %s (HTTP/3, udp): %w", addr, err)
			}
			s.h3Conns = append(s.h3Conns, pc)
		}
	}
	return s, nil
}

// udpNetwork is network for UDP.
func udpNetwork(addr string) string { return "udp" + strings.TrimPrefix(network(addr), "tcp") }

// listenerKind is what a proxy listener's clients speak first: TLS, a PROXY protocol header.
type listenerKind struct{ tls, pp bool }

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func maxBody(n int64) int {
	if n <= 0 || n > int64(^uint(0)>>1) {
		return int(^uint(0) >> 1) // unlimited: the body is streamed, never held whole
	}
	return int(n)
}

// network picks "tcp6" for IPv6 addresses (an IPv6-only socket on [::] can then share the
// port with 0.0.0.0) and "tcp4" for IPv4 ones: Go opens "tcp" on 0.0.0.0 as a dual-stack
// socket, which would take IPv6 clients with enable_ipv6 off.
func network(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	switch {
	case err == nil && strings.Contains(host, ":"):
		return "tcp6"
	case err == nil && net.ParseIP(host).To4() != nil:
		return "tcp4"
	}
	return "tcp"
}

// Addrs returns the bound addresses (useful when a port was 0).
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.listeners))
	for i, ln := range s.listeners {
		out[i] = ln.Addr()
	}
	return out
}

// Serve accepts on every listener until Shutdown; it returns the first listener error that
// is not a shutdown.
func (s *Server) Serve() error {
	for _, pc := range s.h3Conns {
		go func(pc net.PacketConn) {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("HTTP/3 listener panic", "addr", pc.LocalAddr().String(), "panic", r)
				}
			}()
			if err := s.h3.Serve(pc); err != nil && !s.draining.Load() && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.log.Error("HTTP/3 listener stopped", "addr", pc.LocalAddr().String(), "error", err)
			}
		}(pc)
	}
	errc := make(chan error, len(s.listeners))
	for _, ln := range s.listeners {
		go func(ln net.Listener) {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("proxy listener panic", "addr", ln.Addr().String(), "panic", r)
					errc <- fmt.Errorf("proxy listener %s panicked: %v", ln.Addr(), r)
				}
			}()
			errc <- s.acceptLoop(ln)
		}(ln)
	}
	var first error
	for range s.listeners {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) acceptLoop(ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.draining.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off like net/http instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("proxy accept", "addr", ln.Addr().String(), "error", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("proxy accept %s: %w", ln.Addr(), err)
		}
		backoff = 0
		kind := s.lnKinds[ln]
		tc := s.track(c, kind)
		if tc == nil {
			c.Close() // draining
			continue
		}
		go s.serveConn(tc)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// serveConn hands one accepted connection to its engine: a connection that opens with the
// HTTP/2 preface goes to http2.Server (h2c with prior knowledge, h2.go), any other to the
// HTTP/1.1 engine; either reads the sniffed bytes again. After TLS termination ALPN "h2"
// dispatches to serveH2 the same way.
func (s *Server) serveConn(tc *trackedConn) {
	defer s.untrack(tc)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("proxy connection panic", "remote", tc.RemoteAddr().String(), "panic", r)
		}
	}()
	if tc.ppWant && !s.readPP(tc) {
		return
	}
	if tc.tls != nil {
		s.serveTLS(tc)
		return
	}
	h2, err := s.sniffPreface(tc)
	switch {
	case err != nil:
		tc.Close() // silent or gone before a request (nginx closes too)
	case h2:
		s.serveH2(tc, tc)
	default:
		_ = s.h1.ServeConn(tc)
	}
}

// Shutdown stops accepting, lets in-flight requests finish (each answered with
// Connection: close), closes idle keep-alive connections at once, and waits until every
// connection is gone or ctx ends (worker_shutdown_timeout); then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	h3done := make(chan struct{})
	if s.h3 != nil {
		// GOAWAY to HTTP/3 clients; their requests in flight finish within ctx, and only
		// then do the UDP sockets close (closing them first would drop every connection)
		go func() {
			defer close(h3done)
			_ = s.h3.Shutdown(ctx)
			for _, pc := range s.h3Conns {
				pc.Close()
			}
		}()
	} else {
		close(h3done)
	}
	for _, ln := range s.listeners {
		ln.Close()
	}
	done := make(chan struct{})
	go func() { s.connsWG.Wait(); <-h3done; close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		s.drainH2()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.connMu.Lock()
			for tc := range s.conns {
				if tc.Conn != nil {
					tc.closeNow()
				}
			}
			s.connMu.Unlock()
			if s.h3 != nil {
				_ = s.h3.Close()
				<-h3done
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// closeListeners closes every listening socket (a Listen that failed half way).
func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
	for _, pc := range s.h3Conns {
		pc.Close()
	}
}

// trackedConn carries the connection's state for the drain; the state is written by the
// connection's own goroutine, read by Shutdown.
type trackedConn struct {
	net.Conn
	// tls is the TLS layer over Conn on an HTTPS listener (nil on a plain one): Read, Write
	// and Close go through it, deadlines to Conn; it reads Conn through tlsSocket. Set before
	// the connection is published, except on a PROXY protocol listener, where the
	// connection's goroutine sets it after the header (only that goroutine reads it).
	tls *tls.Conn
	// PROXY protocol listeners: ppWant until the header is read; ppConn reads what follows
	// it; ppSrc is its source address ($proxy_protocol_addr).
	ppWant, ppTLS bool
	ppConn        net.Conn
	ppSrc         netip.AddrPort
	state         atomic.Int32 // fasthttp.ConnState
	reqs          atomic.Int64 // requests served on it (stub_status "requests")
	// sawLF: a line feed arrived since the connection last went idle, so an oversized head
	// is 431 (fields), not 414 (request line). Touched only by the connection's goroutine.
	sawLF bool
	// peeked: bytes read by the preface sniff, read again first (peekBuf holds them).
	peeked  []byte
	peekBuf [len(clientPreface)]byte
	// The deadlines as last armed through the methods below, with their timeouts (coarse
	// re-arming). A deadline set on tc.Conn directly bypasses them: do that only before
	// the engine takes the connection (the preface sniff) or after it let go.
	rdl, wdl   time.Time
	rdur, wdur time.Duration
	// addrs: the connection's addresses for its requests, derived on the first
	// (handleHTTP1) by the connection's goroutine.
	addrs    connAddrs
	addrsSet bool
	// Waiting for a keep-alive connection's next request (FIFO build; the socket of plain
	// HTTP/1.1 or under the TLS layer of HTTPS, not PROXY protocol connections): drained
	// when the last read returned less than asked (the socket was empty), awaitNext when the
	// connection went idle so, waiter once made (waiterMade). The connection's goroutine only:
	// it must stay the socket's one reader (netpoll.ReadWaiter bypasses the read lock).
	drained, awaitNext, waiterMade bool
	waiter                         *netpoll.ReadWaiter
}

// fasthttp re-arms the read deadline twice and the write deadline once per request, each a
// runtime timer update. A deadline later than the armed one by less than 1/128 of its timeout
// is not re-armed (the peer gets between 127/128 and all of the timeout, as with nginx's
// coarse timers); an earlier one or a cleared one always is.
func (tc *trackedConn) SetReadDeadline(t time.Time) error {
	if coarseSkip(t, tc.rdl, tc.rdur) {
		return nil
	}
	tc.rdl, tc.rdur = t, time.Until(t)
	return tc.Conn.SetReadDeadline(t)
}

func (tc *trackedConn) SetWriteDeadline(t time.Time) error {
	if coarseSkip(t, tc.wdl, tc.wdur) {
		return nil
	}
	tc.wdl, tc.wdur = t, time.Until(t)
	return tc.Conn.SetWriteDeadline(t)
}

func (tc *trackedConn) SetDeadline(t time.Time) error {
	d := time.Until(t)
	tc.rdl, tc.rdur, tc.wdl, tc.wdur = t, d, t, d
	return tc.Conn.SetDeadline(t)
}

func coarseSkip(t, armed time.Time, dur time.Duration) bool {
	if t.IsZero() || armed.IsZero() {
		return t.IsZero() && armed.IsZero()
	}
	ext := t.Sub(armed)
	return ext >= 0 && ext < dur>>7
}

func (tc *trackedConn) Read(p []byte) (n int, err error) {
	switch {
	case tc.tls != nil:
		n, err = tc.tls.Read(p)
	case len(tc.peeked) > 0:
		n = copy(p, tc.peeked)
		tc.peeked = tc.peeked[n:]
	case tc.ppConn != nil:
		n, err = tc.ppConn.Read(p)
	default:
		n, err = tc.readSocket(p)
	}
	if !tc.sawLF && n > 0 && bytes.IndexByte(p[:n], '\n') >= 0 {
		tc.sawLF = true
	}
	return n, err
}

func (tc *trackedConn) Write(p []byte) (int, error) {
	if tc.tls != nil {
		return tc.tls.Write(p)
	}
	return tc.Conn.Write(p)
}

// readSocket reads the socket itself (plain, or under the TLS layer), first waiting for the
// next request's bytes when the connection went idle after a read that emptied the socket.
func (tc *trackedConn) readSocket(p []byte) (int, error) {
	if tc.awaitNext {
		tc.awaitNext = false
		tc.awaitReadable()
	}
	n, err := tc.Conn.Read(p)
	tc.drained = n > 0 && n < len(p)
	return n, err
}

// tlsSocket is the socket under an HTTPS connection's TLS layer: its reads are the
// connection's (readSocket), everything else the socket's. The TLS layer reads it only when
// the connection is read (handshake and Read, by one goroutine at a time); its writes never
// read.
type tlsSocket struct {
	net.Conn
	tc *trackedConn
}

func (s *tlsSocket) Read(p []byte) (int, error) { return s.tc.readSocket(p) }

// awaitReadable parks until the client's next request arrives, so that the read after it
// finds the request instead of nothing (netpoll.ReadWaiter): between keep-alive requests a
// read at once is a syscall that nearly always returns EAGAIN.
func (tc *trackedConn) awaitReadable() {
	if !tc.waiterMade {
		tc.waiterMade = true
		if c, ok := tc.Conn.(*net.TCPConn); ok {
			tc.waiter = netpoll.NewReadWaiter(c)
		}
	}
	if tc.waiter != nil {
		tc.waiter.Wait()
	}
}

// Close sends a TLS close_notify first on an HTTPS connection.
func (tc *trackedConn) Close() error {
	if tc.tls != nil {
		return tc.tls.Close()
	}
	return tc.Conn.Close()
}

// closeNow closes the socket without a TLS close_notify, which could block on a client that
// does not read (the drain closes connections under connMu).
func (tc *trackedConn) closeNow() { _ = tc.Conn.Close() }

func (s *Server) track(c net.Conn, kind listenerKind) *trackedConn {
	tc := &trackedConn{Conn: c, ppWant: kind.pp, ppTLS: kind.pp && kind.tls}
	if kind.tls && !kind.pp {
		tc.tls = tls.Server(&tlsSocket{Conn: c, tc: tc}, s.tlsConf)
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.draining.Load() {
		return nil
	}
	s.conns[tc] = struct{}{}
	s.connsWG.Add(1)
	s.accepted++
	return tc
}

func (s *Server) untrack(tc *trackedConn) {
	s.connMu.Lock()
	delete(s.conns, tc)
	s.closedReqs += tc.reqs.Load()
	s.connMu.Unlock()
	s.connsWG.Done()
}

func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	if tc, ok := c.(*trackedConn); ok {
		tc.state.Store(int32(st))
		if st == fasthttp.StateIdle {
			// No runtime.Gosched() here: yielding sent the goroutine to the global run
			// queue, which a busy P reads once in 61 schedules. It saved ~5% CPU per request
			// (fewer EAGAIN reads) but doubled p99 (bench case a, GOMAXPROCS=1: 8 ms → 4 ms
			// without it). The upstream side does yield: upstream.RoundTrip.
			tc.sawLF = false
			// the request (and any body) was read to a short read of the socket: the next
			// bytes raise a poller event (netpoll.ReadWaiter). Bytes the TLS layer holds
			// are read without touching the socket, and the socket's last read stays
			// the short one; PROXY protocol connections (ppConn, or TLS over the header's
			// reader) and sniffed bytes are read another way.
			tc.awaitNext = netpoll.FIFO && tc.drained && tc.ppConn == nil && !tc.ppTLS && len(tc.peeked) == 0
		}
	}
}

// closeIdle closes keep-alive connections waiting for their next request. A request that
// races with the close is lost as with any keep-alive close; clients retry those.
func (s *Server) closeIdle() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for tc := range s.conns {
		switch fasthttp.ConnState(tc.state.Load()) {
		case fasthttp.StateIdle, fasthttp.StateNew:
			tc.closeNow()
		}
	}
}

// trustedPeers is real_ip_from: addresses and CIDRs, and unix sockets.
type trustedPeers struct {
	prefixes []netip.Prefix
	unix     bool
}

func parseTrusted(list []string) (trustedPeers, error) {
	var t trustedPeers
	for _, e := range list {
		if e == "unix:" {
			t.unix = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			t.prefixes = append(t.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return t, fmt.Errorf("real_ip_from: %q is not an IP, CIDR or unix:", e)
		}
		t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// realIP is nginx's realip module (ngx_http_get_forwarded_addr) over the real_ip_header lines
// of a peer in real_ip_from, last line first: the rightmost address of the last line, and with
// recursive, while the address found is in real_ip_from too, the one left of it (across lines
// once a whole later line was trusted). An address may carry a port, which becomes
// $remote_port (none: empty). ok is false when no address could be read: the peer's stays.
func (t *trustedPeers) realIP(peer netip.Addr, recursive bool, lines ...[]byte) (addr netip.Addr, port uint16, ok bool) {
	addr = peer
	found, trusted := false, true // the caller checked the peer
	for i := len(lines) - 1; i >= 0; i-- {
		a, p, rc := t.forwardedLine(addr, trusted, lines[i], recursive)
		trusted = false
		if rc != fwdDeclined {
			addr, port = a, p
		}
		switch {
		case !recursive:
			return addr, port, rc != fwdDeclined
		case rc == fwdDeclined && found:
			return addr, port, true
		case rc != fwdOK:
			return addr, port, rc == fwdDone
		}
		found = true
	}
	return addr, port, found
}

// fwdResult is ngx_http_get_forwarded_addr_internal's answer for one header line.
type fwdResult uint8

const (
	fwdDeclined fwdResult = iota // no address taken from the line
	fwdDone                      // stopped at an address not in real_ip_from: the client
	fwdOK                        // read to the line's start (or its last address, not recursive)
)

// forwardedLine walks one header line right to left from addr (trusted: already checked).
func (t *trustedPeers) forwardedLine(addr netip.Addr, trusted bool, v []byte, recursive bool) (netip.Addr, uint16, fwdResult) {
	var port uint16
	found := false
	for {
		if !trusted && !t.contains(addr) {
			if found {
				return addr, port, fwdDone
			}
			return addr, port, fwdDeclined
		}
		trusted = false
		end := len(v)
		for end > 0 && (v[end-1] == ' ' || v[end-1] == ',') {
			end--
		}
		start := end
		for start > 0 && v[start-1] != ' ' && v[start-1] != ',' {
			start--
		}
		a, p, good := parseAddrPort(v[start:end])
		if !good {
			if found {
				return addr, port, fwdDone
			}
			return addr, port, fwdDeclined
		}
		addr, port, found = a, p, true
		if !recursive || start == 0 {
			return addr, port, fwdOK
		}
		v = v[:start]
	}
}

// parseAddrPort is nginx's ngx_parse_addr_port: "1.2.3.4", "::1", "1.2.3.4:80" or
// "[::1]:80" (a port 1-65535; no zone, no brackets without a port). It allocates nothing.
func parseAddrPort(b []byte) (netip.Addr, uint16, bool) {
	var host, ps []byte
	switch i := bytes.IndexByte(b, ':'); {
	case len(b) > 0 && b[0] == '[':
		j := bytes.IndexByte(b, ']')
		if j < 0 || j+1 >= len(b) || b[j+1] != ':' {
			return netip.Addr{}, 0, false
		}
		host, ps = b[1:j], b[j+2:]
	case i >= 0 && bytes.IndexByte(b[i+1:], ':') < 0: // one colon: IPv4 and a port
		host, ps = b[:i], b[i+1:]
	default:
		a, ok := parseIP(b)
		return a, 0, ok
	}
	port := 0
	for _, c := range ps {
		if c < '0' || c > '9' || port > 65535 {
			return netip.Addr{}, 0, false
		}
		port = port*10 + int(c-'0')
	}
	if len(ps) == 0 || port < 1 || port > 65535 {
		return netip.Addr{}, 0, false
	}
	a, ok := parseIP(host)
	return a, uint16(port), ok
}

// parseIP parses an address without a zone (nginx's ngx_parse_addr).
func parseIP(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(b2s(b))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (t *trustedPeers) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fasthttpLogger routes fasthttp's own messages to slog at debug level: they are per
// connection errors (client resets) that a gateway should not log loudly.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "http1")
	}
}
