package snapshot

import (
	"crypto/tls"
	"encoding/json"
	"fmt"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/upstream"
)

// newUpstream compiles spec, resolving tls.client_cert_id to the ssl object it names (which
// must be `type: client`, as APISIX requires) for upstream mTLS.
//
// The compiled upstream is reused while the upstream itself is unchanged, so replacing the
// ssl object takes effect when the upstream (or its owner) is next written.
func (b *builder) newUpstream(key string, spec *model.Upstream) (*upstream.Upstream, error) {
	opt := upstream.Options{Pool: b.o.UpstreamPool, Discovery: b.o.Discovery}
	if spec.TLS == nil || spec.TLS.ClientCertID == "" {
		return upstream.NewWithOptions(key, spec, opt)
	}
	id := string(spec.TLS.ClientCertID)
	o := b.ix.get(model.SSLs, id)
	if o == nil {
		return nil, fmt.Errorf("tls.client_cert_id %s: ssl not found", id)
	}
	raw, _ := o.val.(json.RawMessage)
	var ssl struct {
		Type string `json:"type"`
		Cert string `json:"cert"`
		Key  string `json:"key"`
	}
	if err := json.Unmarshal(raw, &ssl); err != nil {
		return nil, fmt.Errorf("tls.client_cert_id %s: %w", id, err)
	}
	if ssl.Type != "client" {
		return nil, fmt.Errorf("tls.client_cert_id %s: ssl type is %q, want \"client\"", id, ssl.Type)
	}
	cert, err := tls.X509KeyPair([]byte(ssl.Cert), []byte(ssl.Key))
	if err != nil {
		return nil, fmt.Errorf("tls.client_cert_id %s: %w", id, err)
	}
	opt.ClientCert = &cert
	return upstream.NewWithOptions(key, spec, opt)
}
