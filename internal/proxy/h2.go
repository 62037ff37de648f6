package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// The HTTP/2 engine (DESIGN.md "The request path", step 0): Sluice's own listener sniffs the
// client connection preface, and a connection that starts with it goes to x/net/http2's
// server (h2c with prior knowledge, on every node_listen port next to HTTP/1.1). TLS with
// ALPN "h2" hands its connection to the same serveH2. Requests then take the same snapshot,
// router, route checks and plugin chains as HTTP/1.1 (h2handler.go, h2plugin.go).

// clientPreface starts every HTTP/2 connection (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// nginx's http2_max_concurrent_streams.
const h2MaxStreams = 128

// h2Engine is the HTTP/2 server shared by all connections. base exists for
// http2.ConfigureServer: its Shutdown sends GOAWAY on every HTTP/2 connection.
type h2Engine struct {
	srv  *http2.Server
	base *http.Server
	opts http2.ServeConnOpts
}

// connKey carries the accepted connection into the request context.
type connKey struct{}

func newH2Engine(s *Server) *h2Engine {
	o := &s.opts
	e := &h2Engine{
		srv: &http2.Server{},
		base: &http.Server{
			IdleTimeout:    o.KeepaliveTimeout, // keepalive_timeout, then GOAWAY
			MaxHeaderBytes: o.MaxHeaderBytes,
			HTTP2: &http.HTTP2Config{
				MaxConcurrentStreams: h2MaxStreams,
				// send_timeout: the connection may not stall a write longer than this
				WriteByteTimeout: o.SendTimeout,
			},
			ErrorLog: slog.NewLogLogger(o.Logger.With("component", "http2").Handler(), slog.LevelDebug),
		},
	}
	// Only registers the graceful-shutdown hook; ConfigureServer fails only on a TLS config
	// without an HTTP/2 cipher, and base has none.
	_ = http2.ConfigureServer(e.base, e.srv)
	e.opts = http2.ServeConnOpts{BaseConfig: e.base, Handler: http.HandlerFunc(s.handleHTTP2)}
	return e
}

// serveH2 serves c as an HTTP/2 connection until it closes. c has sent nothing but (at most)
// the preface so far: the HTTP/2 server reads the preface itself.
func (s *Server) serveH2(tc *trackedConn, c net.Conn) {
	// The drain closes idle HTTP/1.1 connections by state; an HTTP/2 connection is ended
	// with GOAWAY instead, so its streams in flight finish (drainH2).
	tc.state.Store(int32(fasthttp.StateActive))
	if s.draining.Load() {
		tc.closeNow() // nothing was asked on it yet: like an idle keep-alive connection
		return
	}
	opts := s.h2.opts
	opts.Context = context.WithValue(context.Background(), connKey{}, tc)
	s.h2.srv.ServeConn(c, &opts)
}

// drainH2 sends GOAWAY on every HTTP/2 connection: each closes once its streams are done.
// Safe to call repeatedly (each connection sends GOAWAY once).
func (s *Server) drainH2() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing to wait for: base serves no connections of its own
	_ = s.h2.base.Shutdown(ctx)
}

// sniffPreface reads the start of a new connection until it either is the HTTP/2 preface or
// cannot be. The bytes read stay in tc and are read again by whichever engine takes it. It
// reads no further than the first differing byte, so a short HTTP/1.x request never waits
// for more. A connection that sends nothing within client_header_timeout is an error.
func (s *Server) sniffPreface(tc *trackedConn) (h2 bool, err error) {
	if d := s.opts.ClientHeaderTimeout; d > 0 {
		_ = tc.Conn.SetReadDeadline(time.Now().Add(d))
	}
	var r io.Reader = tc.Conn
	if tc.ppConn != nil {
		r = tc.ppConn // what follows the PROXY protocol header
	}
	n, h2 := 0, true
	for h2 && n < len(clientPreface) {
		m, err := r.Read(tc.peekBuf[n:])
		n += m
		h2 = strings.HasPrefix(clientPreface, b2s(tc.peekBuf[:n]))
		if err != nil && (h2 || n == 0) {
			return false, err
		}
	}
	_ = tc.Conn.SetReadDeadline(time.Time{})
	tc.peeked = tc.peekBuf[:n]
	return h2, nil
}
