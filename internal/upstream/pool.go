package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/netpoll"
)

// APISIX keepalive_pool defaults (nginx_config.http.upstream in config-default.yaml).
const (
	DefaultPoolSize     = 320
	DefaultPoolRequests = 1000
	DefaultPoolIdle     = 60 * time.Second

	// A connection idle longer than this is probed (one non-blocking peek) before reuse, so
	// one the node closed in the meantime is not handed out. Busier ones skip the syscall.
	probeAfterIdle = time.Second
	bufSize        = 4096
)

type poolConfig struct {
	size     int
	requests int
	idle     time.Duration
}

// PoolDefaults is the keepalive pool of an upstream without keepalive_pool: APISIX's
// nginx_config.http.upstream (keepalive, keepalive_requests, keepalive_timeout). A zero field
// is APISIX's default.
type PoolDefaults struct {
	Size     int
	Requests int
	Idle     time.Duration
}

// newPoolConfig is k, or d for an absent pool; zero fields are APISIX's defaults.
func newPoolConfig(k *model.KeepalivePool, d PoolDefaults) poolConfig {
	c := poolConfig{DefaultPoolSize, DefaultPoolRequests, DefaultPoolIdle}
	if k == nil {
		if d.Size > 0 {
			c.size = d.Size
		}
		if d.Requests > 0 {
			c.requests = d.Requests
		}
		if d.Idle > 0 {
			c.idle = d.Idle
		}
		return c
	}
	if k.Size > 0 {
		c.size = k.Size
	}
	if k.Requests > 0 {
		c.requests = k.Requests
	}
	if k.IdleTimeout > 0 {
		c.idle = seconds(k.IdleTimeout)
	}
	return c
}

// pool is one node's idle connections, most recently used last. Pushes happen in time order
// (up to the microseconds between a caller's ReleaseAt reading and its push), so idle is also
// sorted by idleSince and expired connections form a prefix.
type pool struct {
	node    *Node
	mu      sync.Mutex
	idle    []*Conn
	timer   *time.Timer
	timerOn bool
	open    atomic.Int64 // connections dialled and not yet closed
	dials   atomic.Int64
}

// Conn is one upstream connection, lent to a single request between Acquire and Release.
// Its Read and Write re-arm the node timeouts nginx-style: each Read may wait up to Read
// for data, each Write up to Send, however long the whole exchange takes.
type Conn struct {
	nc   net.Conn
	node *Node
	sni  string
	br   *bufio.Reader
	bw   *bufio.Writer
	t    Timeouts

	// The read/write deadlines as last armed: monoNow at arming and the timeout used. They
	// survive in the pool, so a busy connection re-arms (a runtime timer update) only every
	// 1/128 of its timeout, not per request; a changed timeout re-arms at once.
	rdl, wdl  coarseDeadline
	idleSince int64 // monoNow when released to the pool
	writeNow  int64 // a monoNow reading the next Write may use instead of the clock (WriteAt)
	served    int   // requests completed on the connection
	reused    bool  // taken from the idle pool for the current request
	inUse     bool

	// per request, reset by RoundTrip
	written  int64
	nread    int64
	netWErr  error // last error writing to the socket
	netRErr  error // last error reading from it, io.EOF included
	timedOut bool
	clean    bool // response read to its end and both sides allow keep-alive
	body     Body

	// raw is the socket of a plain TCP connection in a FIFO-netpoll build (writeAwait);
	// await makes the next Write one; awaitErr is how the wait after it ended, for the Read
	// that follows.
	raw      syscall.RawConn
	await    bool
	awaitErr error
	// awaitStep, bound once per connection, is the function writeAwait passes to raw.Read: a
	// closure made per request would escape to the heap (one allocation per request). aw is
	// its state for the current write.
	awaitStep func(fd uintptr) bool
	aw        awaitWrite
}

// awaitWrite is the state of one writeAwait: the bytes to write, how many went out, the
// write's error, and whether the write was made (a second call of awaitStep, after the
// wait, only ends raw.Read).
type awaitWrite struct {
	p     []byte
	n     int
	err   error
	wrote bool
}

// Acquire returns a connection to n for one request: an idle pooled one, or a new one dialled
// within t.Connect. For TLS the server name is the node host; use AcquireSNI when pass_host
// makes it something else. Dial failures are *Error with Phase PhaseConnect.
func (n *Node) Acquire(ctx context.Context, t Timeouts) (*Conn, error) {
	return n.acquire(ctx, t, n.defaultSNI(), 0)
}

// AcquireAt is Acquire with the caller's clock reading now (MonoNow, taken just before): the
// idle check uses it instead of reading the clock again.
func (n *Node) AcquireAt(ctx context.Context, t Timeouts, now int64) (*Conn, error) {
	return n.acquire(ctx, t, n.defaultSNI(), now)
}

// defaultSNI is the TLS server name Acquire uses: the node host, or upstream_host with
// pass_host "rewrite"; "" for http.
func (n *Node) defaultSNI() string {
	sni := ""
	if n.up.tlsConf != nil {
		sni = n.Host
		if n.up.Spec.PassHost == "rewrite" && n.up.Spec.UpstreamHost != "" {
			sni = n.up.Spec.UpstreamHost
		}
	}
	return sni
}

// AcquireSNI is Acquire with the TLS server name the caller derived from pass_host (the
// client's Host for "pass", upstream_host for "rewrite", the node host for "node"). As in
// APISIX, idle TLS connections are only reused for the same server name. Ignored for http.
func (n *Node) AcquireSNI(ctx context.Context, t Timeouts, sni string) (*Conn, error) {
	return n.acquire(ctx, t, sni, 0)
}

// acquire takes an idle connection or dials one; now is a MonoNow reading or 0.
func (n *Node) acquire(ctx context.Context, t Timeouts, sni string, now int64) (*Conn, error) {
	if n.up.tlsConf == nil {
		sni = ""
	}
	if c := n.pool.takeIdle(sni, n.up.pool.idle, now); c != nil {
		c.reused = true
		c.start(t)
		return c, nil
	}
	c, err := n.dial(ctx, t, sni)
	if err != nil {
		return nil, err
	}
	c.start(t)
	return c, nil
}

func (c *Conn) start(t Timeouts) {
	c.t = t
	c.inUse = true
	// An idle pooled connection keeps its buffers (release): taking them from the shared
	// pools per request cost two sync.Pool round trips. A fresh one borrows them here.
	if c.br == nil {
		c.br = getReader(c)
		c.bw = getWriter(c)
	}
}

// takeIdle pops the most recently used idle connection for sni that is still usable; now is a
// MonoNow reading or 0 to read the clock here.
func (p *pool) takeIdle(sni string, idleTimeout time.Duration, now int64) *Conn {
	for {
		p.mu.Lock()
		var c *Conn
		for i := len(p.idle) - 1; i >= 0; i-- {
			if p.idle[i].sni != sni {
				continue
			}
			c = p.idle[i]
			copy(p.idle[i:], p.idle[i+1:])
			p.idle[len(p.idle)-1] = nil
			p.idle = p.idle[:len(p.idle)-1]
			break
		}
		p.mu.Unlock()
		if c == nil {
			return nil
		}
		if now == 0 {
			now = monoNow()
		}
		idle := time.Duration(now - c.idleSince)
		if idle < idleTimeout && (idle < probeAfterIdle || alive(c.nc)) {
			return c
		}
		c.closeNet()
	}
}

func (n *Node) dial(ctx context.Context, t Timeouts, sni string) (*Conn, error) {
	var nc net.Conn
	var err error
	if dial := n.up.dial; dial != nil {
		nc, err = dial(ctx, n.Addr)
	} else {
		d := net.Dialer{Timeout: t.Connect}
		nc, err = d.DialContext(ctx, "tcp", n.Addr)
	}
	if err != nil {
		return nil, &Error{Phase: PhaseConnect, Addr: n.Addr, Timeout: isTimeout(err), Err: err}
	}
	if cfg := n.up.tlsConf; cfg != nil {
		cfg = cfg.Clone()
		cfg.ServerName = sni
		tc := tls.Client(nc, cfg)
		// nginx bounds the upstream TLS handshake with the connect timeout too.
		if t.Connect > 0 {
			_ = nc.SetDeadline(time.Now().Add(t.Connect))
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, &Error{Phase: PhaseConnect, Addr: n.Addr, Timeout: isTimeout(err), Err: err}
		}
		_ = nc.SetDeadline(time.Time{})
		nc = tc
	}
	n.pool.open.Add(1)
	n.pool.dials.Add(1)
	c := &Conn{nc: nc, node: n, sni: sni}
	if tc, ok := nc.(*net.TCPConn); ok && netpoll.FIFO {
		c.setRaw(tc)
	}
	return c, nil
}

// Release gives c back after a request. The connection returns to the node's idle pool only
// when reusable is true and the response was read to its end, neither side asked for
// Connection: close, the requests cap is not reached and nothing unread is buffered;
// otherwise it is closed. When the pool is full its least recently used connection is closed
// (nginx keepalive). Release after Release is a no-op; c must not be used after it.
func (c *Conn) Release(reusable bool) { c.release(reusable, 0) }

// ReleaseAt is Release with the caller's clock reading now (MonoNow, taken just before, with
// nothing that can block in between): the connection's idle time starts there.
func (c *Conn) ReleaseAt(reusable bool, now int64) { c.release(reusable, now) }

func (c *Conn) release(reusable bool, now int64) {
	if !c.inUse {
		return
	}
	c.inUse = false
	c.body = Body{}
	c.writeNow = 0
	p, cfg := &c.node.pool, &c.node.up.pool
	keep := reusable && c.clean && c.served < cfg.requests && c.br.Buffered() == 0 &&
		!c.node.up.closed.Load()
	if !keep {
		c.closeNet()
		return
	}
	// The buffers stay with the idle connection (~8 KiB each, bounded by the pool size):
	// the reader is empty, and a Reset clears any state the last exchange left, as
	// returning them to the shared pools did.
	c.br.Reset(c)
	c.bw.Reset(c)
	c.reused = false
	if now == 0 {
		now = monoNow()
	}
	c.idleSince = now
	var evict *Conn
	p.mu.Lock()
	if len(p.idle) >= cfg.size {
		evict = p.idle[0]
		copy(p.idle, p.idle[1:])
		p.idle[len(p.idle)-1] = c
	} else {
		p.idle = append(p.idle, c)
	}
	if !p.timerOn {
		p.timerOn = true
		if p.timer == nil {
			p.timer = time.AfterFunc(cfg.idle, p.reap)
		} else {
			p.timer.Reset(cfg.idle)
		}
	}
	p.mu.Unlock()
	if evict != nil {
		evict.closeNet()
	}
	// Close may have swept the pool between the check above and the push.
	if c.node.up.closed.Load() {
		p.closeIdle()
	}
}

// reap closes connections idle for idle_timeout and re-arms itself while any remain.
func (p *pool) reap() {
	idleTimeout := p.node.up.pool.idle
	now := monoNow()
	p.mu.Lock()
	k := 0
	for k < len(p.idle) && time.Duration(now-p.idle[k].idleSince) >= idleTimeout {
		k++
	}
	expired := make([]*Conn, k)
	copy(expired, p.idle[:k])
	n := copy(p.idle, p.idle[k:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if len(p.idle) > 0 {
		p.timer.Reset(idleTimeout - time.Duration(now-p.idle[0].idleSince))
	} else {
		p.timerOn = false
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.closeNet()
	}
}

func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timerOn = false
	p.mu.Unlock()
	for _, c := range idle {
		c.closeNet()
	}
}

// closeNet closes the socket and hands c's buffers back to the shared pools. Callers own c:
// the request that held it, or the pool code that just took it off the idle list.
func (c *Conn) closeNet() {
	if c.br != nil {
		putReader(c.br)
		putWriter(c.bw)
		c.br, c.bw = nil, nil
	}
	if c.nc != nil {
		_ = c.nc.Close()
		c.node.pool.open.Add(-1)
	}
}

// IdleConns is the number of idle pooled connections to n.
func (n *Node) IdleConns() int {
	n.pool.mu.Lock()
	defer n.pool.mu.Unlock()
	return len(n.pool.idle)
}

// OpenConns is the number of connections to n that are open, idle or in use.
func (n *Node) OpenConns() int { return int(n.pool.open.Load()) }

// Dials is the number of connections ever dialled to n.
func (n *Node) Dials() int { return int(n.pool.dials.Load()) }

// Read reads from the node, allowing up to the Read timeout since the previous read.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.awaitErr; err != nil {
		// the wait after writeAwait ran out of the same Read timeout, or the socket broke
		c.awaitErr = nil
		c.netRErr = err
		c.timedOut = c.timedOut || isTimeout(err)
		return 0, err
	}
	c.armRead()
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	if err != nil {
		c.netRErr = err
		if isTimeout(err) {
			c.timedOut = true
		}
	}
	return n, err
}

// armRead sets the read deadline for the Read timeout.
func (c *Conn) armRead() { c.rdl.arm(c.nc, setReadDeadline, c.t.Read, 0) }

// coarseDeadline is a read or write deadline as last armed: the monoNow reading at arming and
// the timeout used.
type coarseDeadline struct {
	at  int64
	dur time.Duration
}

func setReadDeadline(nc net.Conn, t time.Time) error  { return nc.SetReadDeadline(t) }
func setWriteDeadline(nc net.Conn, t time.Time) error { return nc.SetWriteDeadline(t) }

// arm gives nc's deadline timeout d (none when d <= 0) through set. It re-arms at most every
// 1/128 of the timeout: the node gets between 127/128 and all of it (nginx's timers are as
// coarse); a changed timeout re-arms at once. now is a monoNow reading, or 0 to read the clock.
func (dl *coarseDeadline) arm(nc net.Conn, set func(net.Conn, time.Time) error, d time.Duration, now int64) {
	if d <= 0 {
		if dl.dur != 0 {
			_ = set(nc, time.Time{})
			dl.dur = 0
		}
		return
	}
	if now == 0 {
		now = monoNow()
	}
	if d != dl.dur || time.Duration(now-dl.at) >= d>>7 {
		_ = set(nc, time.Now().Add(d))
		dl.at, dl.dur = now, d
	}
}

// WriteAt lets the next Write use now (MonoNow) for its deadline check instead of reading the
// clock. Only for a reading taken just before the request is written, when nothing can
// block before its first write (no streamed body): a stale reading could skip a re-arm
// that was due. Later Writes read the clock.
func (c *Conn) WriteAt(now int64) { c.writeNow = now }

// Write writes to the node, allowing up to the Send timeout for each write.
func (c *Conn) Write(p []byte) (int, error) {
	if c.await {
		c.await = false
		if n, done := c.writeAwait(p); done {
			c.writeNow = 0
			return n, nil
		} else if n > 0 {
			m, err := c.Write(p[n:])
			return n + m, err
		}
	}
	c.wdl.arm(c.nc, setWriteDeadline, c.t.Send, c.writeNow)
	c.writeNow = 0
	n, err := c.nc.Write(p)
	c.written += int64(n)
	if err != nil {
		c.netWErr = err
		if isTimeout(err) {
			c.timedOut = true
		}
	}
	return n, err
}

// awaitIdleMax bounds how long a pooled connection may have been idle for writeAwait: the wait
// only notices data arriving from the write on, so a FIN or stray bytes the node sent while the
// connection was idle would go unseen until the read timeout (a node that closes, say, on its
// keep-alive timeout resets the connection when the request arrives, which is seen; one that
// half-closes and keeps reading does not). Nodes keep idle connections open for seconds; under
// load, where the saved syscall counts, pooled connections are reused within milliseconds.
const awaitIdleMax = 50 * time.Millisecond

// awaitable reports whether the request about to be written may use writeAwait: a read timeout
// bounds the wait, and the connection is new or was idle for less than awaitIdleMax.
func (c *Conn) awaitable() bool {
	if c.t.Read <= 0 {
		return false
	}
	if !c.reused {
		return true
	}
	now := c.writeNow
	if now == 0 {
		now = monoNow()
	}
	return time.Duration(now-c.idleSince) < awaitIdleMax
}

// writeAwait writes the last bytes of a request and parks until the node's answer is readable,
// so the Read that follows gets it at once. Reading right after the write, as Go's net.Conn
// does, finds nothing yet (a syscall returning EAGAIN) before it parks. With the stock
// runtime the upstream yield avoids that read (RoundTrip); with the FIFO poller the yield does
// not pay, and this does.
//
// The write is made inside RawConn.Read: the runtime clears the socket's readiness before the
// first call of the function, so an answer arriving from the write on is seen. Nothing can
// arrive before the request on a new connection; awaitable covers pooled ones. done is false
// when the socket took only n of p's bytes (the caller writes the rest the usual way) or
// failed (the usual way reports it).
func (c *Conn) writeAwait(p []byte) (n int, done bool) {
	c.armRead()
	c.aw = awaitWrite{p: p}
	rerr := c.raw.Read(c.awaitStep)
	n, werr := c.aw.n, c.aw.err
	c.aw = awaitWrite{}
	c.written += int64(n)
	if werr != nil || n < len(p) {
		return n, false
	}
	c.awaitErr = rerr // nil when the answer is there
	return n, true
}

// setRaw makes c's writes to tc eligible for writeAwait.
func (c *Conn) setRaw(tc *net.TCPConn) {
	c.raw, _ = tc.SyscallConn()
	c.awaitStep = c.stepAwait
}

// stepAwait is writeAwait's raw.Read function: the first call writes c.aw.p and asks to park
// when all of it went out; the call after the wait ends the read.
func (c *Conn) stepAwait(fd uintptr) bool {
	aw := &c.aw
	if aw.wrote {
		return true
	}
	aw.wrote = true
	for {
		aw.n, aw.err = syscall.Write(int(fd), aw.p)
		if aw.err != syscall.EINTR {
			break
		}
	}
	if aw.n < 0 {
		aw.n = 0
	}
	// park only when all of p went out
	return aw.err != nil || aw.n < len(aw.p)
}

// Reader is the buffered reader over c; bytes it holds belong to the node's stream (for a
// 101 Switching Protocols tunnel the proxy must forward them first).
func (c *Conn) Reader() *bufio.Reader { return c.br }

// Writer is the buffered writer over c.
func (c *Conn) Writer() *bufio.Writer { return c.bw }

// NetConn is the underlying connection (a *tls.Conn for https).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Node is the node c is connected to.
func (c *Conn) Node() *Node { return c.node }

// Reused reports whether c came from the idle pool rather than a fresh dial.
func (c *Conn) Reused() bool { return c.reused }

var (
	readerPool sync.Pool
	writerPool sync.Pool
)

func getReader(c *Conn) *bufio.Reader {
	if v := readerPool.Get(); v != nil {
		br := v.(*bufio.Reader)
		br.Reset(c)
		return br
	}
	return bufio.NewReaderSize(c, bufSize)
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

func getWriter(c *Conn) *bufio.Writer {
	if v := writerPool.Get(); v != nil {
		bw := v.(*bufio.Writer)
		bw.Reset(c)
		return bw
	}
	return bufio.NewWriterSize(c, bufSize)
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
