package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/proxyproto"
	sltls "github.com/sluicegw/sluice/internal/tls"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// Listen is one TCP stream listener.
type Listen struct {
	Addr          string // host:port
	TLS           bool   // terminate TLS with the certificate of the client's SNI
	ProxyProtocol bool   // the client sends a PROXY protocol header (v1 or v2) first
}

// Options configure the stream listeners.
type Options struct {
	TCP []Listen
	UDP []string // host:port
	// Routes is the current route table (one atomic load per connection); nil or a nil
	// table closes every connection.
	Routes func() *Table
	// PPToUpstream sends a PROXY protocol v1 header with the client's address to the node
	// first (apisix.proxy_protocol.enable_tcp_pp_to_upstream).
	PPToUpstream bool
	// Certs is the current certificate store of TLS listeners.
	Certs  func() *sltls.Store
	Logger *slog.Logger
}

// DefaultTimeout is nginx's stream proxy_timeout: the longest a session may go without a byte
// in either direction, when the upstream sets no read timeout.
const DefaultTimeout = 10 * time.Minute

// handshakeTimeout bounds a TLS handshake and the PROXY protocol header (nginx
// ssl_handshake_timeout and proxy_protocol_timeout are 60 s).
const handshakeTimeout = 60 * time.Second

// Server serves the stream ports.
type Server struct {
	o        Options
	log      *slog.Logger
	tcp      []net.Listener
	tcpOpts  []Listen
	udp      []*net.UDPConn
	tlsConf  *tls.Config
	closing  atomic.Bool
	mu       sync.Mutex
	conns    map[io.Closer]struct{}
	sessions sync.WaitGroup
	loops    sync.WaitGroup
}

// New binds every listener; a port in use is an error naming it.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{o: o, log: o.Logger, conns: map[io.Closer]struct{}{}}
	s.tlsConf = &tls.Config{GetConfigForClient: s.configForClient}
	for _, l := range o.TCP {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("stream listen tcp %s: %w", l.Addr, err)
		}
		s.tcp = append(s.tcp, ln)
		s.tcpOpts = append(s.tcpOpts, l)
	}
	for _, addr := range o.UDP {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("stream listen udp %s: %w", addr, err)
		}
		uc, err := net.ListenUDP("udp", ua)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("stream listen udp %s: %w", addr, err)
		}
		s.udp = append(s.udp, uc)
	}
	return s, nil
}

// Addrs are the bound TCP then UDP addresses.
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, ln := range s.tcp {
		out = append(out, ln.Addr())
	}
	for _, uc := range s.udp {
		out = append(out, uc.LocalAddr())
	}
	return out
}

// Serve starts accepting on every listener and returns.
func (s *Server) Serve() {
	for i, ln := range s.tcp {
		s.loops.Add(1)
		go s.acceptLoop(ln, s.tcpOpts[i])
	}
	for _, uc := range s.udp {
		s.loops.Add(1)
		go s.udpLoop(uc)
	}
}

// Shutdown stops accepting and waits for the sessions in flight until ctx ends, then closes
// what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	// the loops start sessions: once they returned, sessions.Wait cannot race an Add
	s.loops.Wait()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return ctx.Err()
}

func (s *Server) closeListeners() {
	for _, ln := range s.tcp {
		ln.Close()
	}
	for _, uc := range s.udp {
		uc.Close()
	}
}

// track registers a session's connections for a forced shutdown; false when draining.
func (s *Server) track(cs ...io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	for _, c := range cs {
		s.conns[c] = struct{}{}
	}
	return true
}

func (s *Server) untrack(cs ...io.Closer) {
	s.mu.Lock()
	for _, c := range cs {
		delete(s.conns, c)
	}
	s.mu.Unlock()
}

func (s *Server) acceptLoop(ln net.Listener, l Listen) {
	defer s.loops.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("stream accept", "addr", ln.Addr().String(), "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("stream session panic", "remote", c.RemoteAddr().String(), "panic", r)
				}
			}()
			s.serveTCP(c, l)
		}()
	}
}

// configForClient picks the ssl object of a TLS stream listener's client.
func (s *Server) configForClient(h *tls.ClientHelloInfo) (*tls.Config, error) {
	var st *sltls.Store
	if s.o.Certs != nil {
		st = s.o.Certs()
	}
	c := st.Lookup(h.ServerName)
	if c == nil {
		return nil, fmt.Errorf("%w: %q", sltls.ErrNoCertificate, h.ServerName)
	}
	return c.Config, nil
}

func (s *Server) table() *Table {
	if s.o.Routes == nil {
		return nil
	}
	return s.o.Routes()
}

// serveTCP runs one TCP session: PROXY header, TLS, route, preread, node, copy, log.
func (s *Server) serveTCP(c net.Conn, l Listen) {
	if !s.track(c) {
		c.Close()
		return
	}
	defer s.untrack(c)
	defer c.Close()
	sc := newCtx(c.RemoteAddr(), c.LocalAddr())
	client := c
	if l.ProxyProtocol {
		_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
		pc, src, err := proxyproto.Read(c)
		if err != nil {
			s.log.Warn("stream: bad PROXY protocol header", "remote", c.RemoteAddr().String(), "error", err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if src.IsValid() {
			sc.remote = src
		}
		client = pc
	}
	if l.TLS {
		tc := tls.Server(client, s.tlsConf)
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Debug("stream: TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
			return
		}
		sc.sni = tc.ConnectionState().ServerName
		client = tc
	}
	tbl := s.table()
	sc.table = tbl
	rt := tbl.Match(sc.remote.Addr(), sc.local.Addr(), int(sc.local.Port()), sc.sni)
	if rt == nil {
		s.log.Debug("stream: not hit any route", "remote", sc.remote.String(), "local", sc.local.String(), "sni", sc.sni)
		return
	}
	sc.route = rt
	defer s.logPhase(sc)
	if !s.preread(sc) {
		return
	}
	node, nc, err := s.dial(sc.upstreamOf(), sc)
	if err != nil {
		s.log.Error("stream: no node reachable", "route", rt.ID, "remote", sc.remote.String(), "error", err)
		return
	}
	defer node.finish()
	if !s.track(nc) {
		nc.Close()
		return
	}
	defer s.untrack(nc)
	sc.received, sc.sent = pipe(client, nc, node.idle)
}

// preread runs the route's plugins' preread phases; false when one closed the connection.
// The plugins stay open until the log phase, whatever the snapshots do meanwhile.
func (s *Server) preread(sc *ctx) bool {
	sc.prereadRan = true
	for _, p := range sc.route.Plugins {
		if p.Hold != nil {
			sc.releases = append(sc.releases, p.Hold())
		}
	}
	for _, p := range sc.route.Plugins {
		if p.Preread == nil {
			continue
		}
		p.Preread.Preread(sc)
		if sc.exited {
			return false
		}
	}
	return true
}

// logPhase runs the log phases once the session is over, then lets the plugins go.
func (s *Server) logPhase(sc *ctx) {
	if !sc.prereadRan {
		return
	}
	defer func() {
		for _, release := range sc.releases {
			release()
		}
		sc.releases = nil
	}()
	for _, p := range sc.route.Plugins {
		if p.Log != nil {
			p.Log.StreamLog(sc)
		}
	}
}

// picked is the node of a session, released when it ends.
type picked struct {
	a    upstream.Attempt
	idle time.Duration
	from time.Time
}

func (p *picked) finish() { p.a.Finish(time.Since(p.from)) }

// dial picks a node and connects to it within the connect timeout, trying the next node on a
// failure as many times as the upstream's retries allow (nginx proxy_next_upstream). The
// session's status becomes 502 when none answered, 503 when there is no node at all.
func (s *Server) dial(u *upstream.Upstream, sc *ctx) (*picked, net.Conn, error) {
	if u == nil {
		sc.status = 502
		return nil, nil, errors.New("the route has no upstream")
	}
	u = u.Current()
	p := &picked{from: time.Now()}
	t := u.Timeouts(nil)
	p.idle = DefaultTimeout
	if u.Spec != nil && u.Spec.Timeout != nil && u.Spec.Timeout.Read > 0 {
		p.idle = t.Read
	}
	if u.CHash() {
		p.a.HashKey = u.AppendHashKey(nil, sc)
	}
	var lastErr error
	for try := 0; try <= u.Retries(); try++ {
		n := u.Pick(&p.a)
		if n == nil {
			break
		}
		d := net.Dialer{Timeout: t.Connect}
		nc, err := d.Dial("tcp", n.Addr)
		if err == nil && s.o.PPToUpstream {
			// in clear, before any TLS, as nginx's proxy_protocol on
			_ = nc.SetWriteDeadline(time.Now().Add(t.Connect))
			if _, err = nc.Write(proxyproto.AppendV1(nil, sc.remote, sc.local)); err != nil {
				nc.Close()
			} else {
				_ = nc.SetWriteDeadline(time.Time{})
			}
		}
		if err == nil && u.Scheme() == "tls" {
			cfg := u.TLSConfig().Clone()
			cfg.ServerName = n.Host
			tc := tls.Client(nc, cfg)
			_ = nc.SetDeadline(time.Now().Add(t.Connect))
			if err = tc.Handshake(); err == nil {
				_ = nc.SetDeadline(time.Time{})
				nc = tc
			} else {
				nc.Close()
			}
		}
		if err == nil {
			n.ReportPassive(0, nil)
			sc.upstreamAddr = n.Addr
			sc.connected = time.Since(p.from)
			return p, nc, nil
		}
		sc.upstreamAddr = n.Addr
		n.ReportPassive(0, err)
		lastErr = fmt.Errorf("%s: %w", n.Addr, err)
	}
	p.a.Reset()
	if lastErr == nil {
		sc.status = 503
		return nil, nil, errors.New("the upstream has no node")
	}
	sc.status = 502
	return nil, nil, lastErr
}

// pipe copies both ways until either side ends or the session idles for idle (nginx stream
// without proxy_half_close: an EOF on either side ends the session once what was read is
// written). It returns the bytes read from the client and written to it.
func pipe(client, node net.Conn, idle time.Duration) (received, sent int64) {
	var last atomic.Int64 // unix nanos of the latest byte either way
	last.Store(time.Now().UnixNano())
	done := make(chan struct{}, 2)
	copyOne := func(dst, src net.Conn, total *int64) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 16<<10)
		for {
			_ = src.SetReadDeadline(time.Now().Add(idle))
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				_ = dst.SetWriteDeadline(time.Now().Add(idle))
				w, werr := dst.Write(buf[:n])
				*total += int64(w)
				if werr != nil {
					return
				}
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
					continue // the other direction is busy: the session is not idle
				}
				return
			}
		}
	}
	go copyOne(node, client, &received)
	go copyOne(client, node, &sent)
	<-done
	client.Close()
	node.Close()
	<-done
	return received, sent
}

// ctx is a stream session as plugins see it (plugin.StreamCtx).
type ctx struct {
	remote, local netip.AddrPort
	sni           string
	route         *Route
	table         *Table
	upstream      *upstream.Upstream // chosen by a plugin (traffic-split); nil: the route's
	start         time.Time
	status        int
	exited        bool
	prereadRan    bool
	releases      []func()      // the plugins' holds, let go after the log phase
	upstreamAddr  string        // the last node tried
	connected     time.Duration // until the node accepted; 0: never
	received      int64         // bytes from the client
	sent          int64         // bytes to the client
	values        map[any]any
	buf           []byte
}

func newCtx(remote, local net.Addr) *ctx {
	return &ctx{remote: addrPort(remote), local: addrPort(local), start: time.Now(), status: 200}
}

func addrPort(a net.Addr) netip.AddrPort {
	switch x := a.(type) {
	case *net.TCPAddr:
		return x.AddrPort()
	case *net.UDPAddr:
		return x.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// upstreamOf is the session's upstream: a plugin's choice, else the route's.
func (c *ctx) upstreamOf() *upstream.Upstream {
	if c.upstream != nil {
		return c.upstream
	}
	return c.route.Upstream
}

// SetUpstream replaces the route's upstream for this session (nil restores it).
func (c *ctx) SetUpstream(u plugin.Upstream) {
	c.upstream, _ = u.(*upstream.Upstream)
}

// SetUpstreamID selects a named upstream object for this session.
func (c *ctx) SetUpstreamID(id string) bool {
	if c.table == nil {
		return false
	}
	u := c.table.upstreams[id]
	if u == nil {
		return false
	}
	c.upstream = u
	return true
}

func (c *ctx) RemoteAddr() netip.Addr { return c.remote.Addr().Unmap() }
func (c *ctx) SNI() string            { return c.sni }
func (c *ctx) Status() int            { return c.status }
func (c *ctx) StartTime() time.Time   { return c.start }
func (c *ctx) Exited() bool           { return c.exited }

// RequestInfo, as nginx's stream variables: $upstream_addr, $upstream_connect_time,
// $bytes_received, $bytes_sent (a stream has no upstream status).
func (c *ctx) UpstreamAddr() string { return c.upstreamAddr }
func (c *ctx) UpstreamStatus() int  { return 0 }
func (c *ctx) RequestSize() int64   { return c.received }
func (c *ctx) ResponseSize() int64  { return c.sent }

func (c *ctx) UpstreamLatency() time.Duration {
	if c.connected == 0 {
		return -1
	}
	return c.connected
}

func (c *ctx) RouteID() string {
	if c.route == nil {
		return ""
	}
	return c.route.ID
}

// Exit ends the session in preread; the status is what the log phase sees.
func (c *ctx) Exit(status int, _ []byte) {
	c.exited = true
	c.status = status
}

func (c *ctx) Set(key, value any) {
	if c.values == nil {
		c.values = map[any]any{}
	}
	if value == nil {
		delete(c.values, key)
		return
	}
	c.values[key] = value
}

func (c *ctx) Get(key any) any { return c.values[key] }

// Lookup answers the variables of the stream subsystem.
func (c *ctx) Lookup(v *plugin.Var) ([]byte, bool) {
	c.buf = c.buf[:0]
	switch v.Kind {
	case plugin.VarRemoteAddr:
		return c.remote.Addr().Unmap().AppendTo(c.buf), true
	case plugin.VarRemotePort:
		return strconv.AppendUint(c.buf, uint64(c.remote.Port()), 10), true
	case plugin.VarServerAddr:
		return c.local.Addr().Unmap().AppendTo(c.buf), true
	case plugin.VarServerPort:
		return strconv.AppendUint(c.buf, uint64(c.local.Port()), 10), true
	case plugin.VarRouteID:
		return append(c.buf, c.RouteID()...), c.route != nil
	case plugin.VarRouteName:
		if c.route == nil || c.route.Name == "" {
			return nil, false
		}
		return append(c.buf, c.route.Name...), true
	case plugin.VarStatus:
		return strconv.AppendInt(c.buf, int64(c.status), 10), true
	case plugin.VarUnknown:
		if v.Name == "ssl_server_name" && c.sni != "" {
			return append(c.buf, c.sni...), true
		}
	}
	return nil, false
}

var (
	_ plugin.StreamCtx      = (*ctx)(nil)
	_ plugin.RequestInfo    = (*ctx)(nil)
	_ plugin.UpstreamSetter = (*ctx)(nil)
)
