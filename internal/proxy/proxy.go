// Package proxy owns the data-plane HTTP listeners and the request path. Until the data plane
// lands, every request is answered as APISIX answers a request no route matches.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// routeNotFound is APISIX's body for an unmatched request (core.response.exit with a table:
// JSON plus a trailing newline).
var routeNotFound = []byte(`{"error_msg":"404 Route Not Found"}` + "\n")

// Options configure the proxy listeners.
type Options struct {
	Addrs      []string // host:port to listen on
	ServerName string   // the Server header, "sluice/<version>"
	Logger     *slog.Logger
}

// Server serves the proxy ports.
type Server struct {
	srv       *fasthttp.Server
	listeners []net.Listener
	log       *slog.Logger
}

// Listen binds every address; a port already in use is an error naming it.
func Listen(o Options) (*Server, error) {
	s := &Server{log: o.Logger}
	s.srv = &fasthttp.Server{
		Handler:                       s.handle,
		Name:                          o.ServerName,
		ReadTimeout:                   60 * time.Second,
		IdleTimeout:                   60 * time.Second,
		DisableHeaderNamesNormalizing: false,
		NoDefaultContentType:          true,
	}
	for _, addr := range o.Addrs {
		ln, err := net.Listen(network(addr), addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("proxy listen %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, ln)
	}
	return s, nil
}

// network picks "tcp6" for IPv6 addresses: an IPv6-only socket on [::] can then share the
// port with 0.0.0.0 (a dual-stack one would collide with it).
func network(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err == nil && strings.Contains(host, ":") {
		return "tcp6"
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

// Serve runs until Shutdown; it returns the first listener error that is not a shutdown.
func (s *Server) Serve() error {
	errc := make(chan error, len(s.listeners))
	for _, ln := range s.listeners {
		go func(ln net.Listener) {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("proxy listener panic", "addr", ln.Addr().String(), "panic", r)
					errc <- fmt.Errorf("proxy listener %s panicked: %v", ln.Addr(), r)
				}
			}()
			errc <- s.srv.Serve(ln)
		}(ln)
	}
	var first error
	for range s.listeners {
		if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) && first == nil {
			first = err
		}
	}
	return first
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.ShutdownWithContext(ctx)
}

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.Response.Header.SetContentType("text/plain")
	ctx.Response.SetBodyRaw(routeNotFound)
}
