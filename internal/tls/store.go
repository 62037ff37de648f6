// Package tls is the server certificate store of the HTTPS (and TLS stream) listeners: it
// compiles APISIX ssl objects into per-certificate TLS configurations and finds the one for
// a client's SNI as APISIX's radixtree_sni router does.
//
// Matching, as in APISIX: an exact server name wins; otherwise a wildcard "*.foo.com"
// matches exactly one more label ("a.foo.com", not "a.b.foo.com" nor "foo.com"); "*" matches
// any name. Names are compared lower-cased without a trailing dot. Only ssl objects of type
// server (the default) with status 1 (or none) serve.
package tls

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Options are the node-wide TLS settings (config.yaml apisix.ssl).
type Options struct {
	// Protocols is apisix.ssl.ssl_protocols ("TLSv1.2 TLSv1.3" by default); an ssl
	// object's own ssl_protocols replaces it for its names.
	Protocols []string
	// NextProtos is the ALPN list offered (h2 first when HTTP/2 is enabled).
	NextProtos []string
}

// DefaultProtocols is APISIX's apisix.ssl.ssl_protocols default.
var DefaultProtocols = []string{"TLSv1.2", "TLSv1.3"}

// Store finds the certificate of a server name. Immutable once built; a nil *Store has none.
type Store struct {
	// clientAuth: some serving object asks for client certificates (requests on other
	// stores skip the per-request check)
	clientAuth bool
	exact      map[string]*Cert // "a.foo.com"
	wild       map[string]*Cert // "foo.com" for "*.foo.com"
	any        *Cert            // "*"
}

// Cert is one compiled ssl object.
type Cert struct {
	ID     string
	Config *cryptotls.Config // what the handshake of a name it serves uses
	// Client is set when the object asks for client certificates (client.ca).
	Client *ClientAuth
}

// ClientAuth is an ssl object's downstream mTLS: client.ca, depth, skip_mtls_uri_regex.
type ClientAuth struct {
	// SkipURIs: requests whose $uri matches one of these pass without a verified client
	// certificate; with any set, the handshake accepts any client (APISIX then checks per
	// request instead of rejecting in the handshake), and Verified checks the certificate.
	SkipURIs []*regexp.Regexp
	pool     *x509.CertPool
	depth    int
}

// Verified reports whether a connection carries a client certificate issued by the CA within
// the verify depth: the handshake's verification, or (skip_mtls_uri_regex mode, where the
// handshake does not verify) a verification of the certificates presented.
func (a *ClientAuth) Verified(cs *cryptotls.ConnectionState) bool {
	if len(cs.VerifiedChains) > 0 {
		return true
	}
	if len(a.SkipURIs) == 0 || len(cs.PeerCertificates) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: a.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil && withinDepth(chains, a.depth)
}

// Skip reports whether uri is exempt from client verification.
func (a *ClientAuth) Skip(uri []byte) bool {
	for _, re := range a.SkipURIs {
		if re.Match(uri) {
			return true
		}
	}
	return false
}

// Lookup returns the certificate serving name, or nil.
func (s *Store) Lookup(name string) *Cert {
	if s == nil {
		return nil
	}
	name = normalizeName(name)
	if c := s.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i >= 0 {
		if c := s.wild[name[i+1:]]; c != nil {
			return c
		}
	}
	return s.any
}

// ClientAuth reports whether any certificate asks for client certificates.
func (s *Store) ClientAuth() bool { return s != nil && s.clientAuth }

func normalizeName(n string) string {
	n = strings.TrimSuffix(n, ".")
	for i := 0; i < len(n); i++ {
		if c := n[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(n)
		}
	}
	return n
}

// sslDoc is the part of an ssl object the store reads.
type sslDoc struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	Status *int     `json:"status"`
	SNI    string   `json:"sni"`
	SNIs   []string `json:"snis"`
	Cert   string   `json:"cert"`
	Key    string   `json:"key"`
	Certs  []string `json:"certs"`
	Keys   []string `json:"keys"`
	Client *struct {
		CA          string   `json:"ca"`
		Depth       *int     `json:"depth"`
		SkipMTLSURI []string `json:"skip_mtls_uri_regex"`
	} `json:"client"`
	Protocols []string `json:"ssl_protocols"`
}

// Build compiles the ssl objects (by id, raw JSON with keys decrypted). An object that does
// not compile is left out and reported in errs by id; it never stops the others. Among
// objects claiming the same name, the lowest id wins (stable across rebuilds).
func Build(ssls map[string]json.RawMessage, o Options) (*Store, map[string]string) {
	s := &Store{exact: map[string]*Cert{}, wild: map[string]*Cert{}}
	errs := map[string]string{}
	ids := make([]string, 0, len(ssls))
	for id := range ssls {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		var d sslDoc
		if err := json.Unmarshal(ssls[id], &d); err != nil {
			errs[id] = "invalid ssl: " + err.Error()
			continue
		}
		if d.Type == "client" || d.Status != nil && *d.Status != 1 {
			continue // upstream mTLS material, or disabled
		}
		c, err := compile(id, &d, o)
		if err != nil {
			errs[id] = "ssl not served: " + err.Error()
			continue
		}
		if c.Client != nil {
			s.clientAuth = true
		}
		names := d.SNIs
		if len(names) == 0 && d.SNI != "" {
			names = []string{d.SNI}
		}
		for _, n := range names {
			s.add(normalizeName(n), c)
		}
	}
	return s, errs
}

func (s *Store) add(name string, c *Cert) {
	switch {
	case name == "*":
		if s.any == nil {
			s.any = c
		}
	case strings.HasPrefix(name, "*."):
		if _, taken := s.wild[name[2:]]; !taken {
			s.wild[name[2:]] = c
		}
	default:
		if _, taken := s.exact[name]; !taken {
			s.exact[name] = c
		}
	}
}

func compile(id string, d *sslDoc, o Options) (*Cert, error) {
	if len(d.Certs) != len(d.Keys) {
		return nil, errors.New("mismatched number of certs and keys")
	}
	pairs := [][2]string{{d.Cert, d.Key}}
	for i := range d.Certs {
		pairs = append(pairs, [2]string{d.Certs[i], d.Keys[i]})
	}
	cfg := &cryptotls.Config{
		NextProtos: o.NextProtos,
		// APISIX (nginx ssl_session_tickets off)
		SessionTicketsDisabled: true,
	}
	for i, p := range pairs {
		cert, err := resolveRef(p[0])
		if err != nil {
			return nil, fmt.Errorf("cert-key pair[%d]: cert: %w", i+1, err)
		}
		key, err := resolveRef(p[1])
		if err != nil {
			return nil, fmt.Errorf("cert-key pair[%d]: key: %w", i+1, err)
		}
		pair, err := cryptotls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, fmt.Errorf("cert-key pair[%d]: %w", i+1, err)
		}
		cfg.Certificates = append(cfg.Certificates, pair)
	}
	protocols := d.Protocols
	if len(protocols) == 0 {
		protocols = o.Protocols
	}
	if len(protocols) == 0 {
		protocols = DefaultProtocols
	}
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = versions(protocols); err != nil {
		return nil, err
	}
	c := &Cert{ID: id, Config: cfg}
	if d.Client != nil && d.Client.CA != "" {
		ca, err := resolveRef(d.Client.CA)
		if err != nil {
			return nil, fmt.Errorf("client.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca)) {
			return nil, errors.New("client.ca: no PEM certificate")
		}
		depth := 1
		if d.Client.Depth != nil {
			depth = *d.Client.Depth
		}
		auth := &ClientAuth{pool: pool, depth: depth}
		for _, r := range d.Client.SkipMTLSURI {
			re, err := regexp.Compile(r)
			if err != nil {
				return nil, fmt.Errorf("client.skip_mtls_uri_regex: %w", err)
			}
			auth.SkipURIs = append(auth.SkipURIs, re)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = cryptotls.RequireAndVerifyClientCert
		cfg.VerifyConnection = verifyDepth(depth)
		if len(auth.SkipURIs) > 0 {
			// verified per request (ClientAuth.Verified), as APISIX's verify_client
			// without reject_in_handshake
			cfg.ClientAuth = cryptotls.RequestClientCert
			cfg.VerifyConnection = nil
		}

		c.Client = auth
	}
	return c, nil
}

// verifyDepth enforces nginx's ssl_verify_depth (OpenSSL's verify depth): at most depth
// intermediate certificates between the client's own and the CA (1 by default).
func verifyDepth(depth int) func(cryptotls.ConnectionState) error {
	return func(cs cryptotls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || withinDepth(cs.VerifiedChains, depth) {
			return nil // no certificate: ClientAuth decided that already
		}
		return fmt.Errorf("client certificate chain longer than verify depth %d", depth)
	}
}

func withinDepth(chains [][]*x509.Certificate, depth int) bool {
	for _, chain := range chains {
		if len(chain)-2 <= depth {
			return true
		}
	}
	return false
}

// versions maps ssl_protocols names to the range Go's TLS stack takes; a gap ("TLSv1.1
// TLSv1.3") widens to the range, as Go has no per-version switch.
func versions(names []string) (lo, hi uint16, err error) {
	for _, n := range names {
		for _, f := range strings.Fields(n) {
			v, ok := protocolVersions[f]
			if !ok {
				return 0, 0, fmt.Errorf("unsupported ssl protocol %q", f)
			}
			if lo == 0 || v < lo {
				lo = v
			}
			hi = max(hi, v)
		}
	}
	if lo == 0 {
		return 0, 0, errors.New("no ssl protocol enabled")
	}
	return lo, hi, nil
}

var protocolVersions = map[string]uint16{
	"TLSv1":   cryptotls.VersionTLS10,
	"TLSv1.1": cryptotls.VersionTLS11,
	"TLSv1.2": cryptotls.VersionTLS12,
	"TLSv1.3": cryptotls.VersionTLS13,
}

// resolveRef returns v, or the environment variable a "$env://NAME" reference names. A
// "$secret://" reference needs a secret manager, which this build does not have.
func resolveRef(v string) (string, error) {
	switch {
	case strings.HasPrefix(strings.ToLower(v), "$env://"):
		name := v[len("$env://"):]
		val, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return val, nil
	case strings.HasPrefix(v, "$secret://"):
		return "", fmt.Errorf("secret reference %s: secret managers are not supported", v)
	}
	if !strings.Contains(v, "-----BEGIN") {
		return "", errors.New("not a PEM block")
	}
	if b, _ := pem.Decode([]byte(v)); b == nil {
		return "", errors.New("not a PEM block")
	}
	return v, nil
}

// ErrNoCertificate is the handshake error for a name no ssl object serves.
var ErrNoCertificate = errors.New("failed to find any SSL certificate by SNI")

// Validate checks the node-wide settings, so a bad apisix.ssl stops the start instead of
// failing every handshake.
func (o Options) Validate() error {
	if len(o.Protocols) == 0 {
		return nil
	}
	_, _, err := versions(o.Protocols)
	return err
}
