package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUpstreamMTLSByClientCertID: an https upstream that requires a client certificate gets
// the one named by tls.client_cert_id — an ssl object stored (encrypted, as APISIX stores it)
// through the Admin API and decrypted by the data plane.
func TestUpstreamMTLSByClientCertID(t *testing.T) {
	certPEM, keyPEM := selfSigned(t, "client.test")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(certPEM)) {
		t.Fatal("bad test cert")
	}
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client cert", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	origin.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	origin.StartTLS()
	t.Cleanup(origin.Close)

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	ssl, _ := json.Marshal(map[string]any{"type": "client", "cert": certPEM, "key": keyPEM})
	put(t, n, "/ssls/client1", string(ssl))
	addr := strings.TrimPrefix(origin.URL, "https://")
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/mtls","upstream":{"scheme":"https","nodes":{"%s":1},"type":"roundrobin","tls":{"client_cert_id":"client1"}}}`, addr))
	waitFor(t, n.proxyURL("/mtls"), bodyIs("hello client.test"))
}
