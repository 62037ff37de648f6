package proxy

import (
	"context"
	"crypto/sha1" //nolint:gosec // $ssl_client_fingerprint
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/proxyproto"
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
		s.log.Warn("TLS handshake refused", "remote", helloRemote(h), "error", errNoSNI)
		return nil, errNoSNI
	}
	c := s.tlsStore().Lookup(name)
	if c == nil {
		s.log.Warn("TLS handshake refused", "remote", helloRemote(h), "error", sltls.ErrNoCertificate, "sni", name)
		return nil, fmt.Errorf("%w: %s", sltls.ErrNoCertificate, name)
	}
	return c.Config, nil
}

// readPP reads the PROXY protocol header of a connection on a proxy_protocol listener within
// client_header_timeout, then sets up TLS on what follows for the HTTPS one. A connection
// without a valid header is closed, as nginx does.
func (s *Server) readPP(tc *trackedConn) bool {
	_ = tc.Conn.SetReadDeadline(time.Now().Add(s.opts.ClientHeaderTimeout))
	pc, src, err := proxyproto.Read(tc.Conn)
	if err != nil {
		s.log.Debug("broken header: PROXY protocol", "remote", tc.RemoteAddr().String(), "error", err)
		tc.closeNow()
		return false
	}
	_ = tc.Conn.SetReadDeadline(time.Time{})
	tc.ppWant, tc.ppSrc = false, src
	if tc.ppTLS {
		tc.tls = tls.Server(pc, s.tlsConf)
	} else {
		tc.ppConn = pc
	}
	return true
}

// ppVar resolves $proxy_protocol_addr and $proxy_protocol_port.
func ppVar(name string, src netip.AddrPort, buf []byte) ([]byte, bool) {
	if !src.IsValid() {
		return nil, false
	}
	if name == "proxy_protocol_addr" {
		return src.Addr().Unmap().AppendTo(buf[:0]), true
	}
	return strconv.AppendUint(buf[:0], uint64(src.Port()), 10), true
}

// helloRemote is the client's address for logs (a QUIC handshake has no net.Conn).
func helloRemote(h *tls.ClientHelloInfo) string {
	if h.Conn == nil {
		return "-"
	}
	return h.Conn.RemoteAddr().String()
}

// serveTLS completes the handshake within client_header_timeout and hands the connection to
// the engine ALPN chose.
func (s *Server) serveTLS(tc *trackedConn) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ClientHeaderTimeout)
	err := tc.tls.HandshakeContext(ctx)
	cancel()
	if err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
			// nginx's answer to plain HTTP on an HTTPS port
			_ = rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = rh.Conn.Write(plainHTTPOnHTTPS)
		}
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

// clientVerified is APISIX's verify_https_client for a request on a TLS connection. The ssl
// object the handshake chose (by SNI, or fallback_sni) decides whether a client certificate
// is needed: when it has client.ca, the connection must carry a verified one unless $uri
// matches its skip_mtls_uri_regex. And when the ssl object of the request's Host asks for
// client certificates, the SNI must be that Host, so a verified connection cannot be
// pointed at another name. Failing requests are answered 400.
func (s *Server) clientVerified(host, uri []byte, state func() tls.ConnectionState) bool {
	st := s.tlsStore()
	if !st.ClientAuth() {
		return true
	}
	cs := state()
	sni := cs.ServerName
	if sni == "" {
		sni = s.opts.FallbackSNI
	}
	if c := st.Lookup(sni); c != nil && c.Client != nil && !c.Client.Skip(uri) && !c.Client.Verified(&cs) {
		s.log.Error("client certificate verification is not passed", "sni", sni, "uri", string(uri))
		return false
	}
	if c := st.Lookup(b2s(host)); c != nil && c.Client != nil && !strings.EqualFold(cs.ServerName, b2s(host)) {
		s.log.Error("client certificate verified with SNI " + cs.ServerName + ", but the host is " + string(host))
		return false
	}
	return true
}

// tlsStore is the current snapshot's certificate store (nil before there is one).
func (s *Server) tlsStore() *sltls.Store {
	if s.opts.Snapshots == nil {
		return nil
	}
	return s.opts.Snapshots.Load().TLS
}

// looksLikeHTTP reports a first TLS record header that is an HTTP request's start.
func looksLikeHTTP(h []byte) bool {
	for _, m := range []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"} {
		if len(h) > 0 && strings.HasPrefix(m, string(h[:min(len(h), len(m))])) {
			return true
		}
	}
	return false
}

var plainHTTPOnHTTPS = func() []byte {
	body := "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n" +
		"<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n" +
		"<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n"
	return []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
}()

// isTLSVar reports nginx's $https and $ssl_* names.
func isTLSVar(name string) bool { return name == "https" || strings.HasPrefix(name, "ssl_") }

// tlsVar resolves nginx's $https and $ssl_* variables for a request on a TLS connection
// (cs nil: plain HTTP, where they are empty or absent), in nginx's (OpenSSL's) formats.
func (s *Server) tlsVar(name string, cs *tls.ConnectionState) ([]byte, bool) {
	if name == "https" {
		if cs == nil {
			return []byte{}, true
		}
		return []byte("on"), true
	}
	if cs == nil {
		return nil, false
	}
	var leaf *x509.Certificate
	if len(cs.PeerCertificates) > 0 {
		leaf = cs.PeerCertificates[0]
	}
	switch name {
	case "ssl_server_name":
		return present([]byte(cs.ServerName))
	case "ssl_protocol":
		return []byte(tlsVersionName(cs.Version)), true
	case "ssl_cipher":
		return []byte(cipherName(cs.CipherSuite)), true
	case "ssl_session_reused":
		if cs.DidResume {
			return []byte("r"), true
		}
		return []byte("."), true
	case "ssl_client_verify":
		return []byte(s.clientVerify(cs)), true
	}
	if leaf == nil {
		return nil, false
	}
	switch name {
	case "ssl_client_s_dn":
		return []byte(opensslDN(leaf.RawSubject)), true
	case "ssl_client_i_dn":
		return []byte(opensslDN(leaf.RawIssuer)), true
	case "ssl_client_serial":
		b := leaf.SerialNumber.Bytes()
		if len(b) == 0 {
			b = []byte{0}
		}
		return []byte(strings.ToUpper(hex.EncodeToString(b))), true
	case "ssl_client_fingerprint":
		sum := sha1.Sum(leaf.Raw) //nolint:gosec // nginx's $ssl_client_fingerprint is SHA-1
		return []byte(hex.EncodeToString(sum[:])), true
	case "ssl_client_v_start":
		return []byte(leaf.NotBefore.UTC().Format(opensslTime)), true
	case "ssl_client_v_end":
		return []byte(leaf.NotAfter.UTC().Format(opensslTime)), true
	case "ssl_client_raw_cert":
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), true
	case "ssl_client_escaped_cert":
		esc := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))
		return []byte(strings.ReplaceAll(esc, "+", "%20")), true // nginx escapes a space as %20
	}
	return nil, false
}

// opensslTime is OpenSSL's ASN1_TIME_print layout ("Nov  3 10:00:00 2026 GMT").
const opensslTime = "Jan _2 15:04:05 2006 GMT"

// clientVerify is $ssl_client_verify: SUCCESS, NONE, or FAILED:<reason>. With
// skip_mtls_uri_regex the handshake does not verify: the ssl object's CA decides here.
func (s *Server) clientVerify(cs *tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "NONE"
	}
	if len(cs.VerifiedChains) > 0 {
		return "SUCCESS"
	}
	sni := cs.ServerName
	if sni == "" {
		sni = s.opts.FallbackSNI
	}
	if c := s.tlsStore().Lookup(sni); c != nil && c.Client != nil && c.Client.Verified(cs) {
		return "SUCCESS"
	}
	return "FAILED:unable to verify the first certificate"
}

// opensslDN prints a distinguished name as nginx's $ssl_client_s_dn does (OpenSSL's
// XN_FLAG_RFC2253): the RDNs of the certificate in reverse order, OpenSSL's short names.
func opensslDN(raw []byte) string {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		return ""
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			name, ok := dnShortNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(escapeDN(fmt.Sprint(atv.Value)))
		}
	}
	return b.String()
}

var dnShortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.9": "street", "2.5.4.12": "title",
	"2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
	"2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.17": "postalCode",
	"1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1": "UID",
}

// escapeDN escapes an attribute value as RFC 2253 requires.
func escapeDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cipherName is the suite's OpenSSL name, as nginx's $ssl_cipher prints it (TLS 1.3 suites
// have one name in both).
func cipherName(id uint16) string {
	if n, ok := opensslCiphers[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}

var opensslCiphers = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return "unknown"
}
