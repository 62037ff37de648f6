package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

const now = 1_700_000_000

var b64u = base64.RawURLEncoding.EncodeToString

// keys is the test key material, generated once.
var keys = sync.OnceValue(func() (k struct {
	rsa, rsa3072 *rsa.PrivateKey
	p256, p384   *ecdsa.PrivateKey
	p521         *ecdsa.PrivateKey
	ed           ed25519.PrivateKey
}) {
	k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	k.rsa3072, _ = rsa.GenerateKey(rand.Reader, 3072)
	k.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k.p521, _ = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

func pemPub(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign builds a compact JWS with header {"alg":alg,"typ":"JWT"} and the given payload.
func sign(alg string, key any, payload string) string {
	in := b64u([]byte(`{"alg":"`+alg+`","typ":"JWT"}`)) + "." + b64u([]byte(payload))
	a := algorithms[alg]
	var sig []byte
	var err error
	switch alg[:2] {
	case "HS":
		m := hmac.New(a.newHash, key.([]byte))
		m.Write([]byte(in))
		sig = m.Sum(nil)
	case "RS", "PS":
		h := a.hash.New()
		h.Write([]byte(in))
		if alg[0] == 'R' {
			sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), a.hash, h.Sum(nil))
		} else {
			sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), a.hash, h.Sum(nil), nil)
		}
	case "ES":
		h := a.hash.New()
		h.Write([]byte(in))
		pk := key.(*ecdsa.PrivateKey)
		r, s, e := ecdsa.Sign(rand.Reader, pk, h.Sum(nil))
		err = e
		size := (pk.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case "Ed":
		sig = ed25519.Sign(key.(ed25519.PrivateKey), []byte(in))
	}
	if err != nil {
		panic(err)
	}
	return in + "." + b64u(sig)
}

func cred(user, conf string) plugin.Credential {
	return plugin.Credential{Consumer: &plugin.Consumer{Username: user}, Conf: json.RawMessage(conf)}
}

func testIndex(t *testing.T) any {
	t.Helper()
	k := keys()
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	t.Setenv("SLUICE_TEST_JWT_SECRET", "env-secret")
	creds := []plugin.Credential{
		{Consumer: &plugin.Consumer{Username: "jack", Labels: map[string]string{"custom_id": "j"}},
			Conf: json.RawMessage(`{"key":"user-key","secret":"my-secret-key"}`)},
		{Consumer: &plugin.Consumer{Username: "cred", CredentialID: "c1"}, Conf: json.RawMessage(`{"key":"cred-key","secret":"s","lifetime_grace_period":10}`)},
		cred("b64", `{"key":"b64-key","secret":"`+base64.StdEncoding.EncodeToString([]byte("raw\x00secret"))+`","base64_secret":true}`),
		cred("hs384", `{"key":"hs384","secret":"s","algorithm":"HS384"}`),
		cred("hs512", `{"key":"hs512","secret":"s","algorithm":"HS512"}`),
		cred("env", `{"key":"env-key","secret":"$env://SLUICE_TEST_JWT_SECRET"}`),
		cred("unset", `{"key":"unset-key","secret":"$env://SLUICE_TEST_UNSET_VAR"}`),
		cred("rs256", `{"key":"rs256","algorithm":"RS256","public_key":`+q(pemPub(&k.rsa.PublicKey))+`}`),
		cred("rs384", `{"key":"rs384","algorithm":"RS384","public_key":`+q(pemPub(&k.rsa.PublicKey))+`}`),
		cred("rs512", `{"key":"rs512","algorithm":"RS512","public_key":`+q(pemPub(&k.rsa.PublicKey))+`}`),
		cred("ps256", `{"key":"ps256","algorithm":"PS256","public_key":`+q(pemPub(&k.rsa.PublicKey))+`}`),
		cred("ps512", `{"key":"ps512","algorithm":"PS512","public_key":`+q(pemPub(&k.rsa.PublicKey))+`}`),
		cred("ps3072", `{"key":"ps3072","algorithm":"PS256","public_key":`+q(pemPub(&k.rsa3072.PublicKey))+`}`),
		cred("es256", `{"key":"es256","algorithm":"ES256","public_key":`+q(pemPub(&k.p256.PublicKey))+`}`),
		cred("es384", `{"key":"es384","algorithm":"ES384","public_key":`+q(pemPub(&k.p384.PublicKey))+`}`),
		cred("es512", `{"key":"es512","algorithm":"ES512","public_key":`+q(pemPub(&k.p521.PublicKey))+`}`),
		cred("eswrong", `{"key":"eswrong","algorithm":"ES256","public_key":`+q(pemPub(&k.p384.PublicKey))+`}`),
		cred("eddsa", `{"key":"eddsa","algorithm":"EdDSA","public_key":`+q(pemPub(k.ed.Public()))+`}`),
		cred("badpem", `{"key":"badpem","algorithm":"RS256","public_key":"not a key"}`),
		{Consumer: &plugin.Consumer{Username: "anonymous"}},
	}
	ix, err := Index(creds)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestRewrite(t *testing.T) {
	k := keys()
	hs := []byte("my-secret-key")
	valid := func(key string) string { return `{"key":"` + key + `","exp":1700000100}` }
	const www = `Bearer realm="jwt"`
	var (
		missing   = `{"message":"Missing JWT token in request"}` + "\n"
		invalid   = `{"message":"JWT token invalid"}` + "\n"
		noKey     = `{"message":"missing user key in JWT token"}` + "\n"
		badKey    = `{"message":"Invalid user key in JWT token"}` + "\n"
		verifyErr = `{"message":"failed to verify jwt"}` + "\n"
		badUser   = `{"message":"Invalid user authorization"}` + "\n"
	)
	tests := []struct {
		name     string
		conf     string
		header   http.Header
		query    map[string]string
		status   int
		body     string
		consumer string
		check    func(t *testing.T, c *plugintest.Ctx)
	}{
		{name: "jwt-auth.t: HS256 in Authorization", header: http.Header{"Authorization": {sign("HS256", hs, valid("user-key"))}},
			consumer: "jack", check: func(t *testing.T, c *plugintest.Ctx) {
				if c.ReqHeader.Get("X-Consumer-Username") != "jack" || c.ReqHeader.Get("X-Consumer-Custom-ID") != "j" || c.ReqHeader.Get("Authorization") == "" {
					t.Errorf("upstream headers %v", c.ReqHeader)
				}
			}},
		{name: "jwt-auth.t: Bearer prefix", header: http.Header{"Authorization": {"Bearer " + sign("HS256", hs, valid("user-key"))}}, consumer: "jack"},
		{name: "jwt-auth.t: bearer prefix lower-case", header: http.Header{"Authorization": {"bearer " + sign("HS256", hs, valid("user-key"))}}, consumer: "jack"},
		{name: "plugins.md §3 jwt-auth: BEARER is not stripped", header: http.Header{"Authorization": {"BEARER " + sign("HS256", hs, valid("user-key"))}},
			status: 401, body: invalid},
		{name: "jwt-auth.t: token in query", query: map[string]string{"jwt": sign("HS256", hs, valid("user-key"))}, consumer: "jack"},
		{name: "jwt-auth.t: token in cookie", header: http.Header{"Cookie": {"a=1; jwt=" + sign("HS256", hs, valid("user-key"))}}, consumer: "jack"},
		{name: "jwt-auth.t: custom header/query/cookie names", conf: `{"header":"X-Token","query":"tok","cookie":"tk"}`,
			header: http.Header{"Cookie": {"tk=" + sign("HS256", hs, valid("user-key"))}}, consumer: "jack"},
		{name: "jwt-auth.t: credential object", header: http.Header{"Authorization": {sign("HS256", []byte("s"), valid("cred-key"))}},
			consumer: "cred", check: func(t *testing.T, c *plugintest.Ctx) {
				if c.ReqHeader.Get("X-Credential-Identifier") != "c1" {
					t.Errorf("X-Credential-Identifier = %q", c.ReqHeader.Get("X-Credential-Identifier"))
				}
			}},
		{name: "jwt-auth.t: base64_secret", header: http.Header{"Authorization": {sign("HS256", []byte("raw\x00secret"), valid("b64-key"))}}, consumer: "b64"},
		{name: "jwt-auth.t: HS384", header: http.Header{"Authorization": {sign("HS384", []byte("s"), valid("hs384"))}}, consumer: "hs384"},
		{name: "jwt-auth.t: HS512", header: http.Header{"Authorization": {sign("HS512", []byte("s"), valid("hs512"))}}, consumer: "hs512"},
		{name: "secret: $env:// secret", header: http.Header{"Authorization": {sign("HS256", []byte("env-secret"), valid("env-key"))}}, consumer: "env"},
		{name: "secret: unresolved secret skipped", header: http.Header{"Authorization": {sign("HS256", []byte("x"), valid("unset-key"))}},
			status: 401, body: badKey},
		{name: "jwt-auth3.t: RS256", header: http.Header{"Authorization": {sign("RS256", k.rsa, valid("rs256"))}}, consumer: "rs256"},
		{name: "jwt-auth3.t: RS384", header: http.Header{"Authorization": {sign("RS384", k.rsa, valid("rs384"))}}, consumer: "rs384"},
		{name: "jwt-auth3.t: RS512", header: http.Header{"Authorization": {sign("RS512", k.rsa, valid("rs512"))}}, consumer: "rs512"},
		{name: "jwt-auth3.t: PS256", header: http.Header{"Authorization": {sign("PS256", k.rsa, valid("ps256"))}}, consumer: "ps256"},
		{name: "jwt-auth3.t: PS512", header: http.Header{"Authorization": {sign("PS512", k.rsa, valid("ps512"))}}, consumer: "ps512"},
		{name: "plugins.md §3 jwt-auth: PS signature must be 256 bytes", header: http.Header{"Authorization": {sign("PS256", k.rsa3072, valid("ps3072"))}},
			status: 401, body: verifyErr},
		{name: "jwt-auth3.t: ES256", header: http.Header{"Authorization": {sign("ES256", k.p256, valid("es256"))}}, consumer: "es256"},
		{name: "jwt-auth3.t: ES384", header: http.Header{"Authorization": {sign("ES384", k.p384, valid("es384"))}}, consumer: "es384"},
		{name: "jwt-auth3.t: ES512", header: http.Header{"Authorization": {sign("ES512", k.p521, valid("es512"))}}, consumer: "es512"},
		{name: "plugins.md §3 jwt-auth: ES key on the wrong curve", header: http.Header{"Authorization": {sign("ES256", k.p256, valid("eswrong"))}},
			status: 401, body: verifyErr},
		{name: "jwt-auth3.t: EdDSA", header: http.Header{"Authorization": {sign("EdDSA", k.ed, valid("eddsa"))}}, consumer: "eddsa"},
		{name: "plugins.md §3 jwt-auth: unusable public key", header: http.Header{"Authorization": {sign("RS256", k.rsa, valid("badpem"))}},
			status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: alg must match the consumer's algorithm", header: http.Header{"Authorization": {sign("HS512", hs, valid("user-key"))}},
			status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: alg none", header: http.Header{"Authorization": {b64u([]byte(`{"alg":"none"}`)) + "." + b64u([]byte(valid("user-key"))) + "."}},
			status: 401, body: verifyErr},
		{name: "jwt-auth.t: bad signature", header: http.Header{"Authorization": {sign("HS256", []byte("other"), valid("user-key"))}},
			status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: malformed signature is a clean 401", header: http.Header{"Authorization": {strings.TrimSuffix(sign("ES256", k.p256, valid("es256")), "A") + "*"}},
			status: 401, body: verifyErr},
		{name: "jwt-auth.t: missing token", status: 401, body: missing},
		{name: "jwt-auth.t: garbage token", header: http.Header{"Authorization": {"invalid-eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"}},
			status: 401, body: invalid},
		{name: "plugins.md §3 jwt-auth: empty header is a present, invalid token", header: http.Header{"Authorization": {""}},
			query: map[string]string{"jwt": sign("HS256", hs, valid("user-key"))}, status: 401, body: invalid},
		{name: "plugins.md §3 jwt-auth: payload not JSON", header: http.Header{"Authorization": {b64u([]byte(`{"alg":"HS256"}`)) + "." + b64u([]byte("{nope")) + ".x"}},
			status: 401, body: invalid},
		{name: "jwt-auth.t: missing user key", header: http.Header{"Authorization": {sign("HS256", hs, `{"exp":1700000100}`)}},
			status: 401, body: noKey},
		{name: "jwt-auth.t: unknown user key", header: http.Header{"Authorization": {sign("HS256", hs, valid("nobody"))}},
			status: 401, body: badKey},
		{name: "plugins.md §3 jwt-auth: numeric key claim names no consumer", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":1}`)}},
			status: 401, body: badKey},
		{name: "jwt-auth.t: key_claim_name", conf: `{"key_claim_name":"iss"}`,
			header: http.Header{"Authorization": {sign("HS256", hs, `{"iss":"user-key","key":"nobody"}`)}}, consumer: "jack"},
		{name: "plugins.md §3 jwt-auth: escaped key claim", header: http.Header{"Authorization": {sign("HS256", hs, `{"k\u0065y":"user\u002dkey"}`)}}, consumer: "jack"},
		{name: "jwt-auth.t: expired token", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key","exp":1699999999}`)}},
			status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: exp == now is expired", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key","exp":1700000000}`)}},
			status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: lifetime_grace_period extends exp", header: http.Header{"Authorization": {sign("HS256", []byte("s"), `{"key":"cred-key","exp":1699999995}`)}},
			consumer: "cred"},
		{name: "plugins.md §3 jwt-auth: nbf in the future", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key","nbf":1700000000}`)}},
			status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: nbf in the past", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key","nbf":1699999999}`)}}, consumer: "jack"},
		{name: "plugins.md §3 jwt-auth: exp must be a number", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key","exp":"1800000000"}`)}},
			status: 401, body: verifyErr},
		{name: "plugins.md §10: no claims_to_verify, no exp: valid", header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key"}`)}}, consumer: "jack"},
		{name: "plugins.md §3 jwt-auth: listed claim is required", conf: `{"claims_to_verify":["exp"]}`,
			header: http.Header{"Authorization": {sign("HS256", hs, `{"key":"user-key"}`)}}, status: 401, body: verifyErr},
		{name: "plugins.md §3 jwt-auth: listed nbf required", conf: `{"claims_to_verify":["nbf"]}`,
			header: http.Header{"Authorization": {sign("HS256", hs, valid("user-key"))}}, status: 401, body: verifyErr},
		{name: "jwt-auth.t: hide_credentials header", conf: `{"hide_credentials":true}`,
			header: http.Header{"Authorization": {sign("HS256", hs, valid("user-key"))}}, consumer: "jack",
			check: func(t *testing.T, c *plugintest.Ctx) {
				if _, ok := c.ReqHeader["Authorization"]; ok {
					t.Error("Authorization still sent")
				}
			}},
		{name: "jwt-auth.t: hide_credentials query", conf: `{"hide_credentials":true}`,
			query: map[string]string{"jwt": sign("HS256", hs, valid("user-key")), "a": "1"}, consumer: "jack",
			check: func(t *testing.T, c *plugintest.Ctx) {
				if c.Query.Encode() != "a=1" {
					t.Errorf("query = %q", c.Query.Encode())
				}
			}},
		{name: "jwt-auth.t: hide_credentials cookie", conf: `{"hide_credentials":true}`,
			header: http.Header{"Cookie": {"a=1; jwt=" + sign("HS256", hs, valid("user-key")) + ";b=2"}}, consumer: "jack",
			check: func(t *testing.T, c *plugintest.Ctx) {
				if got := c.ReqHeader.Get("Cookie"); got != "a=1; b=2" {
					t.Errorf("Cookie = %q", got)
				}
			}},
		{name: "plugins.md §3 jwt-auth: hidden even when verification fails", conf: `{"hide_credentials":true}`,
			header: http.Header{"Authorization": {"garbage"}}, status: 401, body: invalid,
			check: func(t *testing.T, c *plugintest.Ctx) {
				if _, ok := c.ReqHeader["Authorization"]; ok {
					t.Error("Authorization still sent")
				}
			}},
		{name: "jwt-auth.t: store_in_ctx", conf: `{"store_in_ctx":true}`,
			header: http.Header{"Authorization": {sign("HS256", hs, valid("user-key"))}}, consumer: "jack",
			check: func(t *testing.T, c *plugintest.Ctx) {
				if got, _ := c.Get(PayloadKey).(json.RawMessage); string(got) != valid("user-key") {
					t.Errorf("payload = %s", got)
				}
			}},
		{name: "jwt-auth.t: custom realm", conf: `{"realm":"api"}`, status: 401, body: missing},
		{name: "jwt-auth-anonymous-consumer.t: fallback", conf: `{"anonymous_consumer":"anonymous"}`,
			header: http.Header{"Authorization": {"garbage"}}, consumer: "anonymous"},
		{name: "jwt-auth-anonymous-consumer.t: unknown anonymous consumer", conf: `{"anonymous_consumer":"ghost"}`,
			status: 401, body: badUser},
	}
	ix := testIndex(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			if conf == "" {
				conf = "{}"
			}
			inst, err := New(json.RawMessage(conf), plugin.Env{})
			if err != nil {
				t.Fatal(err)
			}
			j := inst.(*JWTAuth)
			j.now = func() int64 { return now }
			c := plugintest.New()
			c.Index = ix
			for h, vs := range tt.header {
				c.ReqHeader[h] = vs
			}
			for a, v := range tt.query {
				c.Query.Set(a, v)
			}
			j.Rewrite(c)
			if c.ExitStatus != tt.status || string(c.ExitBody) != tt.body {
				t.Fatalf("exit = %d %q, want %d %q", c.ExitStatus, c.ExitBody, tt.status, tt.body)
			}
			wantWWW := ""
			if tt.status == 401 {
				wantWWW = www
				if tt.conf == `{"realm":"api"}` {
					wantWWW = `Bearer realm="api"`
				}
			}
			if got := c.RespHdr.Get("WWW-Authenticate"); got != wantWWW {
				t.Errorf("WWW-Authenticate = %q, want %q", got, wantWWW)
			}
			got := ""
			if c.ConsumerV != nil {
				got = c.ConsumerV.Username
			}
			if got != tt.consumer {
				t.Errorf("consumer = %q, want %q", got, tt.consumer)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestRewriteAllocsHS256(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	ix := testIndex(t)
	inst, _ := New(json.RawMessage(`{}`), plugin.Env{})
	j := inst.(*JWTAuth)
	j.now = func() int64 { return now }
	c := plugintest.New()
	c.Index = ix
	tok := sign("HS256", []byte("my-secret-key"), `{"key":"user-key","exp":1700000100,"nbf":1600000000,"extra":{"a":[1,2,{"b":null}]}}`)
	c.ReqHeader.Set("Authorization", "Bearer "+tok)
	j.Rewrite(c)
	if c.ConsumerV == nil {
		t.Fatal("not authenticated")
	}
	cons := c.ConsumerV
	base := testing.AllocsPerRun(100, func() {
		c.Header("authorization")
		c.AttachConsumer(cons)
		c.SetHeader("X-Consumer-Username", "jack")
		c.SetHeader("X-Consumer-Custom-ID", "j")
		c.DelHeader("X-Credential-Identifier")
	})
	got := testing.AllocsPerRun(100, func() { j.Rewrite(c) })
	t.Logf("Rewrite allocs = %v, Ctx baseline %v", got, base)
	if got > base {
		t.Errorf("Rewrite allocs = %v, Ctx baseline %v", got, base)
	}
}

func TestScanObject(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{`{}`, true}, {` {"a":1} `, true}, {`{"a":[1,{"b":"c\"\u00e9"}],"d":-1.5e3,"e":true,"f":null}`, true},
		{``, false}, {`[]`, false}, {`{"a":1,}`, false}, {`{"a" 1}`, false}, {`{"a":01}`, false},
		{`{"a":"\x"}`, false}, {`{"a":1} x`, false}, {`{"a":tru}`, false}, {"{\"a\":\"\n\"}", false},
		{strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200), false},
	} {
		if got := scanObject([]byte(tt.in), nil); got != tt.ok {
			t.Errorf("scanObject(%q) = %v, want %v", tt.in, got, tt.ok)
		}
		var v map[string]any
		if std := json.Unmarshal([]byte(tt.in), &v) == nil; std != tt.ok && len(tt.in) < 100 {
			t.Errorf("encoding/json disagrees on %q", tt.in)
		}
	}
}

// FuzzScanObject checks the scanner accepts exactly the JSON objects encoding/json accepts
// (nesting within maxDepth).
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":"\u0041"}]}`, `{"key":"v","exp":1e9}`, `{"a":-0.5E+2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := scanObject([]byte(s), func(k, v []byte) {})
		var m map[string]json.RawMessage
		want := json.Unmarshal([]byte(s), &m) == nil && strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), "{")
		if got && !want {
			t.Fatalf("scanObject accepts %q, encoding/json does not", s)
		}
		if !got && want && strings.Count(s, "{")+strings.Count(s, "[") < maxDepth {
			t.Fatalf("scanObject rejects %q, encoding/json accepts", s)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add(sign("HS256", []byte("k"), `{"key":"user-key"}`))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		buf := make([]byte, 0, 2*len(s)+256)
		if tok, ok := parseToken([]byte(s), buf[:cap(buf)]); ok {
			readClaims(tok.payload, "key")
		}
	})
}
