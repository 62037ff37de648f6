package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/sluicegw/sluice/internal/model"
	sltls "github.com/sluicegw/sluice/internal/tls"
)

// h3TestCert is a self-signed certificate for h3.test and a pool trusting it.
func h3TestCert(t *testing.T) (string, string, *x509.CertPool) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "h3.test"}, DNSNames: []string{"h3.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})), pool
}

func freeUDP(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

// startH3 serves routes over HTTP/3 (and HTTP/1.1) with an ssl object for h3.test.
func startH3(t *testing.T, o Options, routes ...testRoute) (*Server, string, *http.Client) {
	cert, key, pool := h3TestCert(t)
	src := &staticSnapshots{}
	snap := buildSnapshot(t, routes...)
	doc, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "sni": "h3.test"})
	st, errs := sltls.Build(map[string]json.RawMessage{"1": doc}, sltls.Options{NextProtos: []string{"h2", "http/1.1"}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	snap.TLS = st
	src.s.Store(snap)
	udp := freeUDP(t)
	o.Addrs = []string{"127.0.0.1:0"}
	o.HTTP3Addrs = []string{udp}
	o.Snapshots = src
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.ServerName = "sluice/test"
	s, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	tr := &http3.Transport{TLSClientConfig: &tls.Config{ServerName: "h3.test", RootCAs: pool}}
	t.Cleanup(func() { tr.Close() })
	return s, udp, &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestH3ShutdownFinishesInFlight: a request in flight when the drain starts gets its answer
// (the UDP socket closed first used to drop it).
func TestH3ShutdownFinishesInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "done")
	})
	s, udp, c := startH3(t, Options{}, testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(up)}})
	res := getAsync(c, "https://"+udp+"/")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	time.Sleep(200 * time.Millisecond)
	close(release)
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Errorf("in-flight HTTP/3 request aborted by Shutdown: %q, %v", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestH3SendTimeout: a client that stops reading is cut after send_timeout, releasing the
// node's stream.
func TestH3SendTimeout(t *testing.T) {
	upErr := make(chan time.Duration, 1)
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		buf := make([]byte, 64<<10)
		for time.Since(start) < 8*time.Second {
			if _, err := w.Write(buf); err != nil {
				upErr <- time.Since(start)
				return
			}
			w.(http.Flusher).Flush()
		}
		upErr <- -1
	})
	_, udp, c := startH3(t, Options{SendTimeout: 500 * time.Millisecond},
		testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(up)}})
	resp, err := c.Get("https://" + udp + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// never read the body
	d := <-upErr
	if d < 0 || d > 5*time.Second {
		t.Errorf("a client that stopped reading kept the node's stream open %v (send_timeout 500ms)", d)
	}
}
