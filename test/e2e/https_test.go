package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// HTTPS through the real binary: apisix.ssl.listen serves the certificate of the client's SNI
// from ssl objects written through the Admin API, HTTP/1.1 or HTTP/2 by ALPN, and downstream
// mTLS with client.ca.

// testCA is a certificate authority issuing test certificates.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a PEM certificate and key for cn (and the DNS names) signed by the CA.
func (ca *testCA) issue(t testing.TB, cn string, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// httpsGet sends GET path to the node's HTTPS port with the given SNI (and Host), trusting
// ca; h2 offers HTTP/2 by ALPN. It returns the response or the handshake/transport error.
func httpsGet(n *node, ca *testCA, sni, path string, h2 bool, clientCert *tls.Certificate) (*http.Response, string, error) {
	return httpsGetHost(n, ca, sni, sni, path, h2, clientCert)
}

// httpsGetHost is httpsGet with a Host header other than the SNI.
func httpsGetHost(n *node, ca *testCA, sni, host, path string, h2 bool, clientCert *tls.Certificate) (*http.Response, string, error) {
	cfg := &tls.Config{ServerName: sni, RootCAs: ca.pool()}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d%s", n.ports.SSL, path), nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// handshake completes a TLS handshake with the node's HTTPS port for sni without checking
// the certificate: the server's own refusal is what fails it.
func handshake(n *node, sni string) error {
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.ports.SSL), &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err == nil {
		c.Close()
	}
	return err
}

func sslObject(cert, key string, extra map[string]any) string {
	m := map[string]any{"cert": cert, "key": key}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestHTTPSBySNI(t *testing.T) {
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s host=%s", r.Header.Get("X-Forwarded-Proto"), r.Host)
	})
	ca := newTestCA(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/hello","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	waitFor(t, n.proxyURL("/hello"), func(st int, _ string) bool { return st == 200 })

	// no ssl object yet: every handshake fails
	if _, _, err := httpsGet(n, ca, "test.com", "/hello", false, nil); err == nil {
		t.Fatal("handshake succeeded without any ssl object")
	}

	cert, key := ca.issue(t, "test.com", "test.com", "*.wild.com")
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"snis": []string{"test.com", "*.wild.com"}}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body, err := httpsGet(n, ca, "test.com", "/hello", false, nil)
		if err == nil && body == "proto=https host=test.com" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://test.com/hello did not serve within 10s: %v %q\n%s", err, body, n.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, tc := range []struct {
		sni string
		ok  bool
	}{
		{"test.com", true},
		{"TEST.com", true},
		{"a.wild.com", true},
		{"a.b.wild.com", false}, // a wildcard covers one label only
		{"wild.com", false},
		{"other.com", false},
		{"", false}, // no SNI and no fallback_sni
	} {
		if err := handshake(n, tc.sni); (err == nil) != tc.ok {
			t.Errorf("SNI %q: handshake error %v, want ok=%v", tc.sni, err, tc.ok)
		}
		if !tc.ok || tc.sni == "" {
			continue
		}
		resp, body, err := httpsGet(n, ca, tc.sni, "/hello", false, nil)
		if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "proto=https") {
			t.Errorf("SNI %s: %v %v %q, want 200 over https", tc.sni, err, resp, body)
		}
	}

	// plain HTTP on the HTTPS port: nginx's 400
	r := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/hello", n.ports.SSL), "", "")
	if r.Status != 400 || !strings.Contains(r.Body, "The plain HTTP request was sent to HTTPS port") {
		t.Errorf("plain HTTP on the HTTPS port: %d %q", r.Status, r.Body)
	}

	// ALPN h2: the same route over HTTP/2
	resp, body, err := httpsGet(n, ca, "a.wild.com", "/hello", true, nil)
	if err != nil || resp.ProtoMajor != 2 || body != "proto=https host=a.wild.com" {
		t.Fatalf("HTTP/2 over TLS: %v proto %v body %q", err, resp, body)
	}

	// a disabled ssl object serves no more
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"snis": []string{"test.com"}, "status": 0}))
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, _, err := httpsGet(n, ca, "test.com", "/hello", false, nil); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a status 0 ssl object still serves after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHTTPSClientCertificate(t *testing.T) {
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) })
	ca := newTestCA(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/*","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	cert, key := ca.issue(t, "mtls.test", "mtls.test", "skip.test")
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"snis": []string{"mtls.test"}, "client": map[string]any{"ca": ca.certPEM}}))
	put(t, n, "/ssls/2", sslObject(cert, key, map[string]any{"snis": []string{"skip.test"},
		"client": map[string]any{"ca": ca.certPEM, "skip_mtls_uri_regex": []string{"^/public/.*"}}}))

	ccPEM, ckPEM := ca.issue(t, "client")
	good, err := tls.X509KeyPair([]byte(ccPEM), []byte(ckPEM))
	if err != nil {
		t.Fatal(err)
	}
	other := newTestCA(t)
	bcPEM, bkPEM := other.issue(t, "intruder")
	bad, _ := tls.X509KeyPair([]byte(bcPEM), []byte(bkPEM))

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body, err := httpsGet(n, ca, "mtls.test", "/x", false, &good)
		if err == nil && resp.StatusCode == 200 && body == "ok /x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mTLS with a good client certificate: %v %v %q\n%s", err, resp, body, n.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := httpsGet(n, ca, "mtls.test", "/x", false, nil); err == nil {
		t.Error("mtls.test without a client certificate: handshake succeeded")
	}
	// the client certificate's identity reaches the node through nginx's $ssl_* variables
	dn := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s|%s", r.Header.Get("X-Client-DN"), r.Header.Get("X-Verify"), r.Header.Get("X-SNI"), r.Header.Get("X-HTTPS"))
	})
	put(t, n, "/routes/dn", fmt.Sprintf(`{"uri":"/dn","plugins":{"proxy-rewrite":{"headers":{"set":{"X-Client-DN":"$ssl_client_s_dn","X-Verify":"$ssl_client_verify","X-SNI":"$ssl_server_name","X-HTTPS":"$https"}}}},"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, dn.addr()))
	for _, h2 := range []bool{false, true} {
		eventually(t, "$ssl_client_s_dn", func() error {
			resp, body, err := httpsGet(n, ca, "mtls.test", "/dn", h2, &good)
			if err != nil || resp.StatusCode != 200 || body != "CN=client|SUCCESS|mtls.test|on" {
				return fmt.Errorf("h2 %v: %v %v %q", h2, err, resp, body)
			}
			return nil
		})
	}
	if _, _, err := httpsGet(n, ca, "mtls.test", "/x", false, &bad); err == nil {
		t.Error("mtls.test with a certificate of another CA: handshake succeeded")
	}
	// skip_mtls_uri_regex: the handshake lets clients without a certificate in, and only
	// the matching URIs serve them
	if resp, body, err := httpsGet(n, ca, "skip.test", "/public/a", false, nil); err != nil || resp.StatusCode != 200 || body != "ok /public/a" {
		t.Errorf("skip.test /public/a without a certificate: %v %v %q, want 200", err, resp, body)
	}
	if resp, _, err := httpsGet(n, ca, "skip.test", "/private", false, nil); err != nil || resp.StatusCode != 400 {
		t.Errorf("skip.test /private without a certificate: %v %v, want 400", err, resp)
	}
	if resp, _, err := httpsGet(n, ca, "skip.test", "/private", true, &good); err != nil || resp.StatusCode != 200 {
		t.Errorf("skip.test /private with a certificate over HTTP/2: %v %v, want 200", err, resp)
	}
	// with skip_mtls_uri_regex a certificate of another CA completes the handshake but
	// serves only the skipped URIs
	if resp, _, err := httpsGet(n, ca, "skip.test", "/private", false, &bad); err != nil || resp.StatusCode != 400 {
		t.Errorf("skip.test /private with a certificate of another CA: %v %v, want 400", err, resp)
	}
	// the ssl object of the handshake decides, whatever the Host says; and a Host whose ssl
	// object asks for client certificates must be the SNI
	for _, h2 := range []bool{false, true} {
		if resp, _, err := httpsGetHost(n, ca, "skip.test", "plain.test", "/private", h2, nil); err != nil || resp.StatusCode != 400 {
			t.Errorf("SNI skip.test, Host plain.test, /private without a certificate (h2 %v): %v %v, want 400", h2, err, resp)
		}
		if resp, _, err := httpsGetHost(n, ca, "skip.test", "mtls.test", "/public/a", h2, &good); err != nil || resp.StatusCode != 400 {
			t.Errorf("SNI skip.test, Host mtls.test (h2 %v): %v %v, want 400 (the SNI must be the Host)", h2, err, resp)
		}
	}
}

func TestHTTPSFallbackSNI(t *testing.T) {
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ca := newTestCA(t)
	p := newPorts(t)
	cfg := strings.Replace(p.configYAML(keyConfig(), ""), "  ssl:\n", "  ssl:\n    fallback_sni: fb.test\n    ssl_protocols: TLSv1.3\n", 1)
	n := startNode(t, p, cfg, "")
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/*","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	cert, key := ca.issue(t, "fb.test", "fb.test")
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"sni": "fb.test"}))
	eventually(t, "a client without SNI gets fallback_sni's certificate", func() error { return handshake(n, "") })

	// redirect http_to_https points at this node's HTTPS port
	put(t, n, "/routes/r", fmt.Sprintf(`{"uri":"/r","plugins":{"redirect":{"http_to_https":true}},"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	eventually(t, "http_to_https Location", func() error {
		req, _ := http.NewRequest("GET", n.proxyURL("/r?a=1"), nil)
		req.Host = "fb.test"
		resp, err := noFollow.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if want := fmt.Sprintf("https://fb.test:%d/r?a=1", p.SSL); resp.StatusCode != 301 || resp.Header.Get("Location") != want {
			return fmt.Errorf("%d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		return nil
	})
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.ports.SSL), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err == nil {
		c.Close()
		t.Error("a TLS 1.2 client was accepted with ssl_protocols TLSv1.3")
	}
}

// TestHTTP3: an apisix.ssl.listen entry with enable_http3 also serves HTTP/3 on its UDP
// port, with the certificate of the SNI and the same routes.
func TestHTTP3(t *testing.T) {
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s", r.Header.Get("X-Forwarded-Proto"))
	})
	ca := newTestCA(t)
	p := newPorts(t)
	cfg := strings.Replace(p.configYAML(keyConfig(), ""), fmt.Sprintf("        port: %d\n", p.SSL),
		fmt.Sprintf("        port: %d\n        enable_http3: true\n", p.SSL), 1)
	n := startNode(t, p, cfg, "")
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/h3","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	cert, key := ca.issue(t, "h3.test", "h3.test")
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"sni": "h3.test"}))
	tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: "h3.test", RootCAs: ca.pool()}}
	defer tr.Close()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	eventually(t, "HTTP/3 request", func() error {
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/h3", p.SSL))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.ProtoMajor != 3 || string(b) != "proto=https" {
			return fmt.Errorf("%d %s %q", resp.StatusCode, resp.Proto, b)
		}
		return nil
	})
	// the TCP port keeps serving HTTP/1.1 and HTTP/2
	if resp, body, err := httpsGet(n, ca, "h3.test", "/h3", true, nil); err != nil || resp.ProtoMajor != 2 || body != "proto=https" {
		t.Errorf("HTTP/2 next to HTTP/3: %v %v %q", err, resp, body)
	}
}

// Keep-alive over HTTPS: the next request is read however it arrives (after an idle gap,
// pipelined, while the previous one is at the node), and a client that sends close_notify and
// shuts its socket's sending side after its requests gets every response and then the close
// at once. The shipped build waits for the next request through the poller under the TLS
// layer too (docs/netpoll-order.md); a missed wake-up would show as a 5 s timeout here.
func TestHTTPSKeepAlive(t *testing.T) {
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ka/slow" {
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(w, "path=%s", r.URL.Path)
	})
	ca := newTestCA(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	put(t, n, "/routes/1", fmt.Sprintf(`{"uri":"/ka/*","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	cert, key := ca.issue(t, "ka.test", "ka.test")
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"snis": []string{"ka.test"}}))
	waitFor(t, n.proxyURL("/ka/x"), func(st int, _ string) bool { return st == 200 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, body, err := httpsGet(n, ca, "ka.test", "/ka/x", false, nil); err == nil && body == "path=/ka/x" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://ka.test/ka/x did not serve within 10s\n%s", n.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}

	req := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: ka.test\r\n\r\n" }
	for _, tc := range []struct {
		name      string
		steps     []string // written 30 ms apart
		afterEach bool     // each step only after the previous response was read
		halfClose bool     // close_notify and the socket's FIN after the last step
		want      []string
	}{
		{"sequential after idle gaps", []string{req("/ka/a"), req("/ka/b"), req("/ka/c")}, true, false, []string{"/ka/a", "/ka/b", "/ka/c"}},
		{"pipelined in one write", []string{req("/ka/a") + req("/ka/b")}, false, false, []string{"/ka/a", "/ka/b"}},
		{"next request while the previous is at the node", []string{req("/ka/slow"), req("/ka/b")}, false, false, []string{"/ka/slow", "/ka/b"}},
		{"half-close behind a slow request", []string{req("/ka/slow"), req("/ka/b")}, false, true, []string{"/ka/slow", "/ka/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.ports.SSL))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if err := raw.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, &tls.Config{ServerName: "ka.test", RootCAs: ca.pool(), NextProtos: []string{"http/1.1"}})
			br := bufio.NewReader(c)
			read := func(want string) {
				t.Helper()
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("waiting for %s: %v", want, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "path="+want {
					t.Fatalf("got %d %q, want 200 path=%s", resp.StatusCode, body, want)
				}
			}
			got := 0
			for i, step := range tc.steps {
				if i > 0 {
					time.Sleep(30 * time.Millisecond)
				}
				if _, err := io.WriteString(c, step); err != nil {
					t.Fatal(err)
				}
				if tc.afterEach {
					read(tc.want[got])
					got++
				}
			}
			if tc.halfClose {
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if err := raw.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			for ; got < len(tc.want); got++ {
				read(tc.want[got])
			}
			if tc.halfClose {
				if rest, err := io.ReadAll(br); len(rest) > 0 || err != nil {
					t.Fatalf("after the responses: %q, %v; want the proxy's close", rest, err)
				}
				return
			}
			if _, err := io.WriteString(c, req("/ka/last")); err != nil {
				t.Fatal(err)
			}
			read("/ka/last")
		})
	}
}
