package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestTLSVarFormats: the $ssl_client_* variables print as nginx (OpenSSL) prints them.
func TestTLSVarFormats(t *testing.T) {
	oid := func(s ...int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier(s) }
	subject := pkix.RDNSequence{
		{{Type: oid(0, 9, 2342, 19200300, 100, 1, 25), Value: "org"}},
		{{Type: oid(0, 9, 2342, 19200300, 100, 1, 25), Value: "example"}},
		{{Type: oid(2, 5, 4, 3), Value: "client one"}},
		{{Type: oid(2, 5, 4, 10), Value: "Org, Inc"}},
		{{Type: oid(1, 2, 840, 113549, 1, 9, 1), Value: "a@b.c"}},
	}
	raw, err := asn1.Marshal(subject)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(0xABCDE), RawSubject: raw,
		NotBefore: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 11, 26, 9, 5, 1, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	s := &Server{}
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}},
		Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, ServerName: "mtls.test"}
	for name, want := range map[string]string{
		"ssl_client_s_dn":    `emailAddress=a@b.c,O=Org\, Inc,CN=client one,DC=example,DC=org`,
		"ssl_client_serial":  "0ABCDE",
		"ssl_client_v_start": "Nov  3 10:00:00 2026 GMT",
		"ssl_client_v_end":   "Nov 26 09:05:01 2026 GMT",
		"ssl_cipher":         "ECDHE-ECDSA-AES256-GCM-SHA384",
		"ssl_protocol":       "TLSv1.2",
		"ssl_client_verify":  "SUCCESS",
		"ssl_server_name":    "mtls.test",
		"https":              "on",
	} {
		got, ok := s.tlsVar(name, cs)
		if !ok || string(got) != want {
			t.Errorf("$%s = %q (%v), want %q", name, got, ok, want)
		}
	}
	if esc, _ := s.tlsVar("ssl_client_escaped_cert", cs); !strings.HasPrefix(string(esc), "-----BEGIN%20CERTIFICATE-----%0A") {
		t.Errorf("$ssl_client_escaped_cert starts %q", string(esc)[:40])
	}
	if v, _ := s.tlsVar("ssl_client_verify", &tls.ConnectionState{}); string(v) != "NONE" {
		t.Errorf("no certificate: %q", v)
	}
	if v, ok := s.tlsVar("https", nil); !ok || string(v) != "" {
		t.Errorf("$https on plain HTTP: %q %v", v, ok)
	}
}
