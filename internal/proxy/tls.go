package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	sltls "github.com/sluicegw/sluice/internal/tls"
)

// HTTPS (apisix.ssl.listen): the handshake takes the certificate of the client's SNI from the
// snapshot of the moment (a new ssl object serves the next handshake), then ALPN "h2" goes to
// the HTTP/2 engine and anything else to HTTP/1.1, both with $scheme "https".

var errNoSNI = errors.New("failed to find SNI: please check if the client requests via IP or uses an outdated protocol")

// configForClient picks the ssl object for the ClientHello's server name (or fallback_sni).
func (s *Server) configForClient(h *tls.ClientHelloInfo) (*tls.Config, error) {
	name := h.ServerName
	if name == "" {
		name = s.opts.FallbackSNI
	}
	if name == "" {
		s.log.Warn("TLS handshake refused", "remote", h.Conn.RemoteAddr().String(), "error", errNoSNI)
		return nil, errNoSNI
	}
	c := s.tlsStore().Lookup(name)
	if c == nil {
		s.log.Warn("TLS handshake refused", "remote", h.Conn.RemoteAddr().String(), "error", sltls.ErrNoCertificate, "sni", name)
		return nil, fmt.Errorf("%w: %s", sltls.ErrNoCertificate, name)
	}
	return c.Config, nil
}

// serveTLS completes the handshake within client_header_timeout and hands the connection to
// the engine ALPN chose.
func (s *Server) serveTLS(tc *trackedConn) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ClientHeaderTimeout)
	err := tc.tls.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.log.Debug("TLS handshake failed", "remote", tc.RemoteAddr().String(), "error", err)
		tc.Conn.Close()
		return
	}
	_ = tc.Conn.SetDeadline(time.Time{})
	if tc.tls.ConnectionState().NegotiatedProtocol == "h2" {
		s.serveH2(tc, tc.tls)
		return
	}
	_ = s.h1.ServeConn(tc)
}

// clientVerified is APISIX's verify_https_client for a request on a TLS connection: when the
// ssl object of the request's host asks for client certificates, the connection must carry
// a verified one (unless $uri matches its skip_mtls_uri_regex) and its SNI must be the host.
// Failing requests are answered 400.
func clientVerified(st *sltls.Store, host, uri []byte, state func() tls.ConnectionState) bool {
	c := st.Lookup(b2s(host))
	if c == nil || c.Client == nil {
		return true
	}
	for _, re := range c.Client.SkipURIs {
		if re.Match(uri) {
			return true
		}
	}
	cs := state()
	if len(cs.VerifiedChains) == 0 {
		return false // no certificate (the handshake refuses a bad one)
	}
	return strings.EqualFold(cs.ServerName, b2s(host))
}

// tlsStore is the current snapshot's certificate store (nil before there is one).
func (s *Server) tlsStore() *sltls.Store {
	if s.opts.Snapshots == nil {
		return nil
	}
	return s.opts.Snapshots.Load().TLS
}
