package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	cryptotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, name string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

func ssl(t *testing.T, fields map[string]any) json.RawMessage {
	t.Helper()
	cert, key := selfSigned(t, "x.test")
	m := map[string]any{"cert": cert, "key": key}
	for k, v := range fields {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLookupFollowsRadixtreeSNI(t *testing.T) {
	st, errs := Build(map[string]json.RawMessage{
		"exact":  ssl(t, map[string]any{"snis": []string{"a.foo.com", "Upper.Test."}}),
		"wild":   ssl(t, map[string]any{"sni": "*.foo.com"}),
		"deeper": ssl(t, map[string]any{"sni": "*.b.foo.com"}),
		"off":    ssl(t, map[string]any{"sni": "off.test", "status": 0}),
		"client": ssl(t, map[string]any{"type": "client"}),
	}, Options{})
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	for name, want := range map[string]string{
		"a.foo.com":     "exact",
		"A.FOO.COM":     "exact",
		"upper.test":    "exact", // the object's trailing dot and case are dropped
		"c.foo.com":     "wild",
		"c.foo.com.":    "wild",
		"x.b.foo.com":   "deeper",
		"x.y.b.foo.com": "", // one label only
		"x.c.foo.com":   "", // *.foo.com does not cover two labels
		"foo.com":       "",
		"off.test":      "", // status 0
		"":              "",
	} {
		got := ""
		if c := st.Lookup(name); c != nil {
			got = c.ID
		}
		if got != want {
			t.Errorf("Lookup(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBuildKeepsGoodObjectsAndReportsBadOnes(t *testing.T) {
	st, errs := Build(map[string]json.RawMessage{
		"1":   ssl(t, map[string]any{"sni": "good.test"}),
		"2":   json.RawMessage(`{"sni":"bad.test","cert":"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----","key":"k"}`),
		"3":   ssl(t, map[string]any{"sni": "proto.test", "ssl_protocols": []string{"SSLv3"}}),
		"env": ssl(t, map[string]any{"sni": "env.test", "key": "$env://SLUICE_TEST_UNSET_KEY"}),
	}, Options{})
	if st.Lookup("good.test") == nil {
		t.Error("good.test is not served next to bad objects")
	}
	for _, id := range []string{"2", "3", "env"} {
		if errs[id] == "" {
			t.Errorf("object %s: no error reported (errs %v)", id, errs)
		}
	}
	if !strings.Contains(errs["env"], "SLUICE_TEST_UNSET_KEY") {
		t.Errorf("env error %q does not name the variable", errs["env"])
	}
}

func TestProtocolsAndClientAuth(t *testing.T) {
	ca, _ := selfSigned(t, "ca.test")
	st, errs := Build(map[string]json.RawMessage{
		"13":   ssl(t, map[string]any{"sni": "v13.test", "ssl_protocols": []string{"TLSv1.3"}}),
		"def":  ssl(t, map[string]any{"sni": "def.test"}),
		"mtls": ssl(t, map[string]any{"sni": "mtls.test", "client": map[string]any{"ca": ca}}),
		"skip": ssl(t, map[string]any{"sni": "skip.test", "client": map[string]any{"ca": ca, "skip_mtls_uri_regex": []string{"^/p"}}}),
	}, Options{Protocols: []string{"TLSv1.1", "TLSv1.2"}})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if c := st.Lookup("v13.test").Config; c.MinVersion != cryptotls.VersionTLS13 || c.MaxVersion != cryptotls.VersionTLS13 {
		t.Errorf("ssl_protocols TLSv1.3: versions %x-%x", c.MinVersion, c.MaxVersion)
	}
	if c := st.Lookup("def.test").Config; c.MinVersion != cryptotls.VersionTLS11 || c.MaxVersion != cryptotls.VersionTLS12 {
		t.Errorf("node default TLSv1.1 TLSv1.2: versions %x-%x", c.MinVersion, c.MaxVersion)
	}
	if c := st.Lookup("mtls.test"); c.Client == nil || c.Config.ClientAuth != cryptotls.RequireAndVerifyClientCert {
		t.Errorf("client.ca: ClientAuth %v", c.Config.ClientAuth)
	}
	if c := st.Lookup("skip.test"); c.Client == nil || len(c.Client.SkipURIs) != 1 || c.Config.ClientAuth != cryptotls.RequestClientCert {
		t.Errorf("skip_mtls_uri_regex: ClientAuth %v", c.Config.ClientAuth)
	}
	if err := (Options{Protocols: []string{"TLSv9"}}).Validate(); err == nil {
		t.Error("Validate accepted TLSv9")
	}
}

func TestWithinDepth(t *testing.T) {
	chain := func(n int) [][]*x509.Certificate { return [][]*x509.Certificate{make([]*x509.Certificate, n)} }
	// OpenSSL's verify depth counts the intermediates: depth 1 takes leaf ← intermediate ← CA
	for _, tc := range []struct {
		len, depth int
		ok         bool
	}{{2, 0, true}, {3, 0, false}, {3, 1, true}, {4, 1, false}, {4, 2, true}} {
		if got := withinDepth(chain(tc.len), tc.depth); got != tc.ok {
			t.Errorf("chain of %d, depth %d: %v, want %v", tc.len, tc.depth, got, tc.ok)
		}
	}
}
