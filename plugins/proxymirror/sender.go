package proxymirror

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"github.com/sluicegw/sluice/plugin"
)

// Bounds of one mirror host's sender. A copy that does not fit is dropped and counted: the
// client's request never waits for the mirror.
const (
	workersPerHost = 4        // concurrent copies in flight to one host
	queueLen       = 1024     // copies waiting for a worker
	maxQueuedBytes = 16 << 20 // body bytes held by waiting and in-flight copies
	// maxMirrorBody: a request with a larger body (Content-Length) is not mirrored; the
	// runtime buffers at most 1 MiB for plugins anyway.
	maxMirrorBody   = 1 << 20
	maxMirrorRespSz = 4 << 20 // a larger mirror response fails that copy (its connection closes)
)

// timeouts are plugin_attr.proxy-mirror.timeout, APISIX's defaults 60s each.
type timeouts struct{ connect, send, read time.Duration }

var defaultTimeouts = timeouts{60 * time.Second, 60 * time.Second, 60 * time.Second}

// nodeAttrs is the node-wide plugin_attr the plugin's Start read.
type nodeAttrs struct{ t timeouts }

func (*nodeAttrs) Close() error { return nil }

func start(node plugin.Node) (plugin.Shared, error) {
	t, err := parseAttr(node.Config("plugin_attr.proxy-mirror"))
	if err != nil {
		return nil, err
	}
	return &nodeAttrs{t: t}, nil
}

// timeoutsFor returns the node's mirror timeouts as the env carries them, APISIX's defaults
// where it carries none (Admin API validation).
func timeoutsFor(env plugin.Env) timeouts {
	if a, ok := env.Shared.(*nodeAttrs); ok {
		return a.t
	}
	if env.Node != nil {
		if t, err := parseAttr(env.Node.Config("plugin_attr.proxy-mirror")); err == nil {
			return t
		}
	}
	return defaultTimeouts
}

func parseAttr(raw json.RawMessage) (timeouts, error) {
	t := defaultTimeouts
	if len(raw) == 0 {
		return t, nil
	}
	var attr struct {
		Timeout map[string]json.RawMessage `json:"timeout"`
	}
	if err := json.Unmarshal(raw, &attr); err != nil {
		return t, fmt.Errorf("plugin_attr.proxy-mirror: %w", err)
	}
	for name, dst := range map[string]*time.Duration{"connect": &t.connect, "send": &t.send, "read": &t.read} {
		v, ok := attr.Timeout[name]
		if !ok {
			continue
		}
		d, err := nginxTime(v)
		if err != nil {
			return t, fmt.Errorf("plugin_attr.proxy-mirror.timeout.%s: %w", name, err)
		}
		*dst = d
	}
	return t, nil
}

// nginxTime parses an nginx time ("60s", "500ms", "1m", or a bare number of seconds).
func nginxTime(raw json.RawMessage) (time.Duration, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	s = strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad time %q", s)
			}
			return time.Duration(n * float64(u.unit)), nil
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return time.Duration(n * float64(time.Second)), nil
}

// Senders are shared by every instance mirroring to the same host with the same timeouts,
// across snapshots: a route update must not drop the host's connections or queue. This is
// the package's only mutable state, keyed by target, touched only in New and Close.
var (
	poolsMu sync.Mutex
	pools   = map[string]*hostPool{}
)

// hostPool is one mirror host's queue, workers and client.
type hostPool struct {
	key  string
	addr string // host:port, the Host of a copy when the request has none
	refs int    // guarded by poolsMu

	queue  chan *fasthttp.Request
	done   chan struct{}
	wg     sync.WaitGroup
	bytes  atomic.Int64 // body bytes of queued and in-flight copies
	do     func(req *fasthttp.Request, resp *fasthttp.Response) error
	closer func()
	log    *slog.Logger

	// Counters: copies sent (any response), failed (no response: refused, timed out),
	// dropped (queue or byte bound full), skipped (body too large or of unknown length).
	sent, failed, dropped, skipped atomic.Int64
}

// acquirePool returns the sender for scheme://hostport, starting it on first use.
func acquirePool(scheme, hostport string, t timeouts, log *slog.Logger) (*hostPool, error) {
	key := fmt.Sprintf("%s://%s|%v|%v|%v", scheme, hostport, t.connect, t.send, t.read)
	poolsMu.Lock()
	defer poolsMu.Unlock()
	if p := pools[key]; p != nil {
		p.refs++
		return p, nil
	}
	p := &hostPool{key: key, refs: 1, queue: make(chan *fasthttp.Request, queueLen),
		done: make(chan struct{}), addr: hostport, log: log.With("mirror", scheme+"://"+hostport)}
	if err := p.dial(scheme, hostport, t); err != nil {
		return nil, err
	}
	pools[key] = p
	for range workersPerHost {
		p.wg.Add(1)
		go p.work()
	}
	return p, nil
}

// release drops a reference; the last stops the workers, frees what was still queued and
// closes the client's idle connections. A copy in flight ends within its timeouts.
func (p *hostPool) release() {
	poolsMu.Lock()
	p.refs--
	last := p.refs == 0
	if last {
		delete(pools, p.key)
	}
	poolsMu.Unlock()
	if !last {
		return
	}
	close(p.done)
	go func() {
		p.wg.Wait()
		for {
			select {
			case req := <-p.queue:
				p.finish(req)
			default:
				p.closer()
				return
			}
		}
	}()
}

func withDefaultPort(hostport, port string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
}

// dial builds the host's client: fasthttp for http(s), HTTP/2 for grpc(s). Neither retries
// (a copy is sent at most once) and, as nginx's proxy_ssl_verify defaults to off, neither
// verifies the mirror's certificate.
func (p *hostPool) dial(scheme, hostport string, t timeouts) error {
	tlsConf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // nginx's default for proxied TLS
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		tlsConf.ServerName = h
	} else {
		tlsConf.ServerName = strings.Trim(hostport, "[]")
	}
	switch scheme {
	case "http", "https":
		port := "80"
		if scheme == "https" {
			port = "443"
		}
		hc := &fasthttp.HostClient{
			Addr: withDefaultPort(hostport, port), IsTLS: scheme == "https", TLSConfig: tlsConf,
			Dial:                      func(addr string) (net.Conn, error) { return fasthttp.DialTimeout(addr, t.connect) },
			WriteTimeout:              t.send,
			ReadTimeout:               t.read,
			MaxConns:                  workersPerHost,
			MaxIdemponentCallAttempts: 1,
			RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			NoDefaultUserAgentHeader:  true,
			DisablePathNormalizing:    true,
			MaxResponseBodySize:       maxMirrorRespSz,
		}
		p.do = hc.Do
		p.closer = hc.CloseIdleConnections
	case "grpc", "grpcs":
		port, urlScheme := "80", "http"
		if scheme == "grpcs" {
			port, urlScheme = "443", "https"
		}
		addr := withDefaultPort(hostport, port)
		dialer := &net.Dialer{Timeout: t.connect}
		tr := &http2.Transport{TLSClientConfig: tlsConf}
		if scheme == "grpc" {
			tr.AllowHTTP = true // h2c with prior knowledge, as grpc_pass grpc://
			tr.DialTLSContext = func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
				return dialer.DialContext(ctx, network, a)
			}
		}
		p.do = func(req *fasthttp.Request, _ *fasthttp.Response) error {
			return roundTripH2(tr, urlScheme+"://"+addr, req, t)
		}
		p.closer = tr.CloseIdleConnections
	default:
		return fmt.Errorf("host scheme %q not supported", scheme)
	}
	return nil
}

// roundTripH2 sends a copy over HTTP/2 and discards the answer.
func roundTripH2(tr *http2.Transport, base string, req *fasthttp.Request, t timeouts) error {
	ctx, cancel := context.WithTimeout(context.Background(), t.connect+t.send+t.read)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, string(req.Header.Method()), base+string(req.RequestURI()),
		strings.NewReader(string(req.Body())))
	if err != nil {
		return err
	}
	hr.Host = string(req.Header.Host())
	for k, v := range req.Header.All() {
		if !isHeader(k, "Host") && !isHeader(k, "Content-Length") {
			hr.Header.Add(string(k), string(v))
		}
	}
	resp, err := tr.RoundTrip(hr)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMirrorRespSz))
	resp.Body.Close()
	return err
}

// work sends queued copies until the pool stops.
func (p *hostPool) work() {
	defer p.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("proxy-mirror worker panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	resp := new(fasthttp.Response)
	for {
		select {
		case <-p.done:
			return
		case req := <-p.queue:
			p.send(req, resp)
		}
	}
}

func (p *hostPool) send(req *fasthttp.Request, resp *fasthttp.Response) {
	defer p.finish(req)
	resp.Reset()
	if err := p.do(req, resp); err != nil {
		p.failed.Add(1)
		p.log.Debug("mirror request failed", "uri", string(req.RequestURI()), "error", err)
		return
	}
	p.sent.Add(1)
}

func (p *hostPool) finish(req *fasthttp.Request) {
	p.bytes.Add(-int64(len(req.Body())))
	fasthttp.ReleaseRequest(req)
}

// hop-by-hop headers stay on the client's connection; Host and Content-Length are set anew.
var notCopied = []string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	"Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Expect"}

func isHeader(name []byte, want string) bool {
	return len(name) == len(want) && strings.EqualFold(string(name), want)
}

// mirror copies the request as it is about to be forwarded and queues the copy; it never
// blocks and never changes the request.
func (p *hostPool) mirror(c plugin.Ctx, uri string) {
	body, ok := mirrorBody(c)
	if !ok {
		p.skipped.Add(1)
		p.log.Debug("request not mirrored: body too large or of unknown length", "uri", uri)
		return
	}
	if p.bytes.Add(int64(len(body))) > maxQueuedBytes {
		p.bytes.Add(-int64(len(body)))
		p.drop(uri)
		return
	}
	req := fasthttp.AcquireRequest()
	req.Header.DisableNormalizing()
	req.Header.SetMethodBytes(c.Method())
	req.SetRequestURI(uri)
	c.VisitHeaders(func(name, value []byte) {
		for _, h := range notCopied {
			if isHeader(name, h) {
				return
			}
		}
		req.Header.AddBytesKV(name, value)
	})
	if h, ok := c.Header("Host"); ok && len(h) > 0 {
		req.Header.SetHostBytes(h) // $upstream_host
	} else if h := c.Host(); len(h) > 0 {
		req.Header.SetHostBytes(h)
	} else {
		req.Header.SetHost(p.addr)
	}
	if len(body) > 0 {
		req.SetBody(body)
	}
	select {
	case p.queue <- req:
	default:
		p.finish(req) // gives the reserved bytes back
		p.drop(uri)
	}
}

func (p *hostPool) drop(uri string) {
	p.dropped.Add(1)
	p.log.Debug("mirror queue full: request not mirrored", "uri", uri)
}

// mirrorBody returns the body to copy, the buffered body when its length is known and at most
// maxMirrorBody. A body of unknown length is not buffered (past the runtime's bound that would
// break the client's request): a chunked request, or a POST/PUT/PATCH without length (HTTP/2,
// gRPC), is not mirrored; another method without length is copied without a body.
func mirrorBody(c plugin.Ctx) ([]byte, bool) {
	cl, ok := c.Header("Content-Length")
	if !ok || len(cl) == 0 { // an engine may report an absent length as empty
		if _, chunked := c.Header("Transfer-Encoding"); chunked {
			return nil, false
		}
		switch string(c.Method()) {
		case "POST", "PUT", "PATCH":
			return nil, false
		}
		return nil, true
	}
	n, err := strconv.ParseInt(string(cl), 10, 64)
	if err != nil || n < 0 || n > maxMirrorBody {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	body, err := c.Body()
	if err != nil {
		return nil, false
	}
	return body, true
}
