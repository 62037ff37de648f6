package upstream

import (
	"crypto/tls"
	"errors"

	"github.com/sluicegw/sluice/internal/model"
)

// clientTLS is the TLS config for https upstreams. Like APISIX (nginx proxy_ssl_verify off),
// the node's certificate is not verified: tls.verify applies to kafka upstreams only.
func clientTLS(t *model.UpstreamTLS, cert *tls.Certificate) (*tls.Config, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // APISIX does not verify upstream certificates
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	switch {
	case cert != nil:
		cfg.Certificates = []tls.Certificate{*cert}
	case t != nil && (t.ClientCert != "" || t.ClientKey != ""):
		if t.ClientCert == "" || t.ClientKey == "" {
			return nil, errors.New("client_cert and client_key must be set together")
		}
		kp, err := tls.X509KeyPair([]byte(t.ClientCert), []byte(t.ClientKey))
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}
