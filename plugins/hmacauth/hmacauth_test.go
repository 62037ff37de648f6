package hmacauth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	"github.com/sluicegw/sluice/plugins/internal/authconsumer"
)

const now = 1_700_000_000

var (
	date = time.Unix(now, 0).UTC().Format(http.TimeFormat)
	jack = &plugin.Consumer{Username: "jack", Labels: map[string]string{"custom_id": "42"}}
	cred = &plugin.Consumer{Username: "rose", CredentialID: "rose-cred"}
	anon = &plugin.Consumer{Username: "anonymous"}
)

func testIndex(t testing.TB) any {
	t.Helper()
	t.Setenv("SLUICE_TEST_HMAC_SECRET", "env-secret")
	ix, err := Index([]plugin.Credential{
		{Consumer: jack, Conf: json.RawMessage(`{"key_id":"jack-key","secret_key":"jack-secret"}`)},
		{Consumer: cred, Conf: json.RawMessage(`{"key_id":"rose-key","secret_key":"rose-secret"}`)},
		{Consumer: &plugin.Consumer{Username: "env"}, Conf: json.RawMessage(`{"key_id":"env-key","secret_key":"$env://SLUICE_TEST_HMAC_SECRET"}`)},
		{Consumer: &plugin.Consumer{Username: "unset"}, Conf: json.RawMessage(`{"key_id":"unset-key","secret_key":"$env://SLUICE_TEST_HMAC_UNSET"}`)},
		{Consumer: &plugin.Consumer{Username: "vault"}, Conf: json.RawMessage(`{"key_id":"vault-key","secret_key":"$secret://vault/1/k"}`)},
		{Consumer: anon},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// sign builds an Authorization value the way APISIX's docs sign a request: the signing string
// is keyId, then each listed header's line, every line ending in "\n".
func sign(alg, keyID, secret string, req *plugintest.Ctx, headers ...string) string {
	var b strings.Builder
	b.WriteString(keyID + "\n")
	for _, h := range headers {
		if v := req.ReqHeader.Get(h); v != "" {
			b.WriteString(h + ": " + v + "\n")
		} else if h == "@request-target" {
			b.WriteString(req.MethodV + " " + string(req.RequestURI()) + "\n")
		}
	}
	newHash := map[string]func() hash.Hash{"hmac-sha1": sha1.New, "hmac-sha256": sha256.New, "hmac-sha512": sha512.New}[alg]
	mac := hmac.New(newHash, []byte(secret))
	mac.Write([]byte(b.String()))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return `Signature keyId="` + keyID + `",algorithm="` + alg + `",headers="` + strings.Join(headers, " ") + `",signature="` + sig + `"`
}

func digest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestRewrite(t *testing.T) {
	const www = `hmac realm="hmac"`
	var (
		missing     = `{"message":"client request can't be validated: missing Authorization header"}` + "\n"
		scheme      = `{"message":"client request can't be validated: Authorization header does not start with 'Signature'"}` + "\n"
		invalid     = `{"message":"client request can't be validated"}` + "\n"
		invalidUser = `{"message":"Invalid user authorization"}` + "\n"
	)
	// std signs jack's GET /path?a=1 with date and the request target.
	std := func(c *plugintest.Ctx) {
		c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "@request-target", "date"))
	}
	tests := []struct {
		name     string
		conf     string
		prep     func(c *plugintest.Ctx)
		status   int
		body     string
		www      string
		consumer string
		upstream map[string]string
		keepAuth bool
	}{
		{name: "hmac-auth.t: valid signature", conf: `{}`, prep: std, consumer: "jack", keepAuth: true,
			upstream: map[string]string{"X-Consumer-Username": "jack", "X-Consumer-Custom-ID": "42", "X-Credential-Identifier": ""}},
		{name: "hmac-auth.t: hmac-sha1", conf: `{}`, consumer: "jack", keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha1", "jack-key", "jack-secret", c, "date"))
		}},
		{name: "hmac-auth.t: hmac-sha512 with a custom header", conf: `{}`, consumer: "jack", keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("X-Custom", "v")
			c.ReqHeader.Set("Authorization", sign("hmac-sha512", "jack-key", "jack-secret", c, "date", "@request-target", "X-Custom"))
		}},
		{name: "plugins.md §3 hmac-auth: a listed header the request lacks adds no line", conf: `{}`, consumer: "jack", keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date", "x-absent"))
		}},
		{name: "hmac-auth.t: credential object", conf: `{}`, consumer: "rose", keepAuth: true,
			upstream: map[string]string{"X-Credential-Identifier": "rose-cred", "X-Consumer-Custom-ID": ""},
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("X-Consumer-Custom-ID", "spoofed")
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "rose-key", "rose-secret", c, "date"))
			}},
		{name: "secret: $env:// secret_key", conf: `{}`, consumer: "env", keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "env-key", "env-secret", c, "date"))
		}},
		{name: "secret: unresolved reference is skipped", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "unset-key", "$env://SLUICE_TEST_HMAC_UNSET", c, "date"))
		}},
		{name: "secret: $secret:// is skipped", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "vault-key", "$secret://vault/1/k", c, "date"))
		}},
		{name: "hmac-auth.t: missing Authorization", conf: `{}`, prep: func(*plugintest.Ctx) {},
			status: 401, body: missing, www: www},
		{name: "hmac-auth.t: scheme is case-sensitive", conf: `{}`, status: 401, body: scheme, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", "s"+sign("hmac-sha256", "jack-key", "jack-secret", c, "date")[1:])
		}},
		{name: "hmac-auth.t: keyId missing", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", `Signature algorithm="hmac-sha256",headers="date",signature="YQ=="`)
		}},
		{name: "hmac-auth.t: algorithm missing", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", `Signature keyId="jack-key",headers="date",signature="YQ=="`)
		}},
		{name: "hmac-auth.t: unknown keyId", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "nobody", "jack-secret", c, "date"))
		}},
		{name: "hmac-auth.t: algorithm not allowed", conf: `{"allowed_algorithms":["hmac-sha256"]}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", sign("hmac-sha1", "jack-key", "jack-secret", c, "date"))
			}},
		{name: "hmac-auth.t: Date missing", conf: `{"signed_headers":[]}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Del("Date")
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "@request-target"))
			}},
		{name: "hmac-auth.t: Date not an HTTP date", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Date", "yesterday")
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date"))
		}},
		{name: "plugins.md §3 hmac-auth: RFC 850 date", conf: `{}`, consumer: "jack", keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Date", time.Unix(now, 0).UTC().Format("Monday, 02-Jan-06 15:04:05 GMT"))
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date"))
		}},
		{name: "plugins.md §3 hmac-auth: asctime date", conf: `{}`, consumer: "jack", keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Date", time.Unix(now, 0).UTC().Format(time.ANSIC))
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date"))
		}},
		{name: "hmac-auth.t: clock skew exceeded", conf: `{"clock_skew":10}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Date", time.Unix(now-11, 0).UTC().Format(http.TimeFormat))
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date"))
			}},
		{name: "hmac-auth.t: clock skew at the limit", conf: `{"clock_skew":10}`, consumer: "jack", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Date", time.Unix(now+10, 0).UTC().Format(http.TimeFormat))
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date"))
			}},
		{name: "hmac-auth.t: default signed_headers requires date", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "@request-target"))
			}},
		{name: "hmac-auth.t: signed_headers names are case-sensitive", conf: `{"signed_headers":["date"]}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "Date"))
			}},
		{name: "hmac-auth.t: signed_headers without a headers field", conf: `{"signed_headers":["x-custom"]}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", `Signature keyId="jack-key",algorithm="hmac-sha256",signature="YQ=="`)
			}},
		{name: "hmac-auth.t: empty signed_headers allows no headers field", conf: `{"signed_headers":[]}`, consumer: "jack", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", strings.Replace(sign("hmac-sha256", "jack-key", "jack-secret", c), `headers="",`, "", 1))
			}},
		{name: "hmac-auth.t: wrong secret", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "other", c, "date"))
		}},
		{name: "hmac-auth.t: request target tampered", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "date", "@request-target"))
			c.Query.Set("a", "2")
		}},
		{name: "hmac-auth.t: signature not base64", conf: `{}`, status: 401, body: invalid, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
			c.ReqHeader.Set("Authorization", `Signature keyId="jack-key",algorithm="hmac-sha256",headers="date",signature="*"`)
		}},
		{name: "hmac-auth.t: custom realm", conf: `{"realm":"sluice"}`, prep: func(*plugintest.Ctx) {},
			status: 401, body: missing, www: `hmac realm="sluice"`},
		{name: "hmac-auth.t: hide_credentials", conf: `{"hide_credentials":true}`, prep: std, consumer: "jack"},
		{name: "hmac-auth.t: validate_request_body", conf: `{"validate_request_body":true}`, consumer: "jack", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.MethodV, c.ReqBody = "POST", []byte(`{"a":1}`)
				c.ReqHeader.Set("Digest", digest(`{"a":1}`))
				std(c)
			}},
		{name: "hmac-auth.t: validate_request_body with an empty body", conf: `{"validate_request_body":true}`, consumer: "jack", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Digest", digest(""))
				std(c)
			}},
		{name: "hmac-auth.t: Digest missing", conf: `{"validate_request_body":true}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.MethodV, c.ReqBody = "POST", []byte(`{"a":1}`)
				std(c)
			}},
		{name: "hmac-auth.t: Digest wrong", conf: `{"validate_request_body":true}`, status: 401, body: invalid, www: www, keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.MethodV, c.ReqBody = "POST", []byte(`{"a":1}`)
				c.ReqHeader.Set("Digest", digest(`{"a":2}`))
				std(c)
			}},
		{name: "hmac-auth.t: Digest ignored without validate_request_body", conf: `{}`, consumer: "jack", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Digest", "nonsense")
				std(c)
			}},
		{name: "plugins.md §3 hmac-auth: Content-Length over max_req_body_size", conf: `{"validate_request_body":true,"max_req_body_size":4}`,
			status: 413, body: `{"message":"request size 7 is greater than the maximum size 4 allowed"}` + "\n", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.MethodV, c.ReqBody = "POST", []byte(`{"a":1}`)
				c.ReqHeader.Set("Content-Length", "7")
				c.ReqHeader.Set("Digest", digest(`{"a":1}`))
				std(c)
			}},
		{name: "plugins.md §3 hmac-auth: read body over max_req_body_size, no anonymous fallback",
			conf:   `{"validate_request_body":true,"max_req_body_size":4,"anonymous_consumer":"anonymous"}`,
			status: 413, body: `{"message":"request size 7 is greater than the maximum size 4 allowed"}` + "\n", keepAuth: true,
			prep: func(c *plugintest.Ctx) {
				c.MethodV, c.ReqBody = "POST", []byte(`{"a":1}`)
				c.ReqHeader.Set("Digest", digest(`{"a":1}`))
				std(c)
			}},
		{name: "hmac-auth-anonymous-consumer.t: fallback", conf: `{"anonymous_consumer":"anonymous"}`, prep: func(*plugintest.Ctx) {},
			consumer: "anonymous", upstream: map[string]string{"X-Consumer-Username": "anonymous"}},
		{name: "hmac-auth-anonymous-consumer.t: fallback with hide removes Authorization", conf: `{"anonymous_consumer":"anonymous","hide_credentials":true}`,
			consumer: "anonymous", prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "wrong", c, "date"))
			}},
		{name: "hmac-auth-anonymous-consumer.t: unknown anonymous consumer", conf: `{"anonymous_consumer":"ghost"}`,
			status: 401, body: invalidUser, www: www, keepAuth: true, prep: func(c *plugintest.Ctx) {
				c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "wrong", c, "date"))
			}},
	}
	ix := testIndex(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := New(json.RawMessage(tt.conf), plugin.Env{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			h := inst.(*HMACAuth)
			h.now = func() int64 { return now }
			c := plugintest.New()
			c.Index = ix
			c.Path = "/path"
			c.Query.Set("a", "1")
			c.ReqHeader.Set("Date", date)
			tt.prep(c)
			_, hadAuth := c.ReqHeader["Authorization"]
			h.Rewrite(c)
			if c.ExitStatus != tt.status || string(c.ExitBody) != tt.body {
				t.Fatalf("exit = %d %q, want %d %q", c.ExitStatus, c.ExitBody, tt.status, tt.body)
			}
			if got := c.RespHdr.Get("WWW-Authenticate"); got != tt.www {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.www)
			}
			got := ""
			if c.ConsumerV != nil {
				got = c.ConsumerV.Username
			}
			if got != tt.consumer {
				t.Errorf("consumer = %q, want %q", got, tt.consumer)
			}
			for k, want := range tt.upstream {
				if got := c.ReqHeader.Get(k); got != want {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
			if _, ok := c.ReqHeader["Authorization"]; hadAuth && ok != tt.keepAuth {
				t.Errorf("Authorization still sent = %v, want %v", ok, tt.keepAuth)
			}
		})
	}
}

func TestParseSignature(t *testing.T) {
	tests := []struct {
		in                      string
		keyID, alg, sig, hdrs   string
		hasKey, hasAlg, hasHdrs bool
	}{
		{in: ` keyId="k",algorithm="hmac-sha256",headers="date x",signature="c2ln"`,
			keyID: "k", alg: "hmac-sha256", hdrs: "date x", sig: "c2ln", hasKey: true, hasAlg: true, hasHdrs: true},
		{in: ` keyId="k", signature="s"`, keyID: "k", sig: "s", hasKey: true},
		{in: ` keyId=""`, hasKey: true},                        // present but empty
		{in: ` keyId="a",keyId="b"`, keyID: "b", hasKey: true}, // last wins
		{in: ` x-keyId="k"`, keyID: "k", hasKey: true},         // unanchored %w+
		{in: ` key_id="k"`}, // %w has no '_': the key is "id"
		{in: ` keyId=k`},    // unquoted
		{in: ` keyId="k`},   // unterminated
		{in: ` ="x" keyId="k"`, keyID: "k", hasKey: true},  // a `="` with no name before it
		{in: ` keyId="a=\"b"`, keyID: `a=\`, hasKey: true}, // value ends at the first quote
		{in: ` headers="a,b"`, hdrs: `"a`, hasHdrs: false}, // split on ',' first: no match in either piece
		{in: `,,, keyId="k",,`, keyID: "k", hasKey: true},  // empty pieces
		{in: ` signature="ab=="`, sig: "ab=="},             // base64 padding kept
		{in: `keyId="k"junk`, keyID: "k", hasKey: true},    // trailing text ignored
		{in: "\tkeyId=\"k\"", keyID: "k", hasKey: true},    // any leading space
		{in: ` algorithm="hmac-sha1"`, alg: "hmac-sha1", hasAlg: true},
	}
	for _, tt := range tests {
		p := parseSignature([]byte(tt.in))
		if p.hasKeyID != tt.hasKey || string(p.keyID) != tt.keyID || p.hasAlg != tt.hasAlg || string(p.algorithm) != tt.alg ||
			string(p.signature) != tt.sig || p.hasHeaders != tt.hasHdrs || (tt.hasHdrs && string(p.headers) != tt.hdrs) {
			t.Errorf("parseSignature(%q) = %+v", tt.in, p)
		}
	}
}

func TestNextName(t *testing.T) {
	for in, want := range map[string]string{
		"date":                   "date",
		"@request-target  date ": "@request-target|date",
		"":                       "",
		"   ":                    "",
	} {
		var got []string
		for name, rest, ok := nextName([]byte(in)); ok; name, rest, ok = nextName(rest) {
			got = append(got, string(name))
		}
		if strings.Join(got, "|") != want {
			t.Errorf("names(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseHTTPDate(t *testing.T) {
	for in, want := range map[string]int64{
		"Tue, 14 Nov 2023 22:13:20 GMT":   now,
		"Tuesday, 14-Nov-23 22:13:20 GMT": now,
		"Tue Nov 14 22:13:20 2023":        now,
		"Thu, 01 Jan 1970 00:00:00 GMT":   0,
		"Tue, 14 Nov 2023 22:13:20 UTC":   -1,
		"Tue, 31 Feb 2023 22:13:20 GMT":   -1,
		"Tue, 14 Nox 2023 22:13:20 GMT":   -1,
		"Tue, 14 Nov 2023 24:13:20 GMT":   -1,
		"Tue, 14 Nov 2023 22:13:2x GMT":   -1,
		"":                                -1,
	} {
		got, ok := parseHTTPDate([]byte(in))
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("parseHTTPDate(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	for in, want := range map[string]string{
		"YWJj": "abc", "YWI=": "ab", "YWI": "ab", "YQ==": "a", "YQ": "a", "YQ==junk": "a", "": "",
	} {
		got, ok := decodeBase64(nil, []byte(in))
		if !ok || string(got) != want {
			t.Errorf("decodeBase64(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"Y", "YW\nJj", "YW-j", "*"} {
		if _, ok := decodeBase64(nil, []byte(in)); ok {
			t.Errorf("decodeBase64(%q) succeeded", in)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(` keyId="k",algorithm="hmac-sha256",headers="date",signature="c2ln"`)
	f.Add(`="",="x"a="`)
	f.Fuzz(func(t *testing.T, s string) {
		p := parseSignature([]byte(s))
		for _, v := range [][]byte{p.keyID, p.algorithm, p.signature, p.headers} {
			if strings.Contains(string(v), `"`) {
				t.Fatalf("value %q contains a quote", v)
			}
		}
		for name, rest, ok := nextName(p.headers); ok; name, rest, ok = nextName(rest) {
			if len(name) == 0 || strings.Contains(string(name), " ") {
				t.Fatalf("bad name %q", name)
			}
		}
		decodeBase64(nil, p.signature)
	})
}

func TestRewriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	ix := testIndex(t)
	inst, _ := New(json.RawMessage(`{}`), plugin.Env{})
	h := inst.(*HMACAuth)
	h.now = func() int64 { return now }
	c := plugintest.New()
	c.Index = ix
	c.Path = "/path"
	c.ReqHeader.Set("Date", date)
	c.ReqHeader.Set("Authorization", sign("hmac-sha256", "jack-key", "jack-secret", c, "@request-target", "date"))
	h.Rewrite(c)
	if c.ConsumerV != jack {
		t.Fatalf("not authenticated: %d %s", c.ExitStatus, c.ExitBody)
	}
	// The in-memory Ctx allocates on every accessor; the plugin itself should add little on top.
	dateName := []byte("date") // as parsed from the headers list: canonicalized at run time
	base := testing.AllocsPerRun(100, func() {
		c.Header("Authorization")
		c.Header("Date")
		c.Header("@request-target")
		c.Lookup(&requestURI)
		c.Header(unsafeString(dateName))
		c.Method()
		authconsumer.Attach(c, jack)
	})
	// +1: net/http.Header canonicalizes a run-time name with an allocation the compiler
	// avoids for the baseline's constants (profiled: every Rewrite allocation is in plugintest).
	if got := testing.AllocsPerRun(100, func() { h.Rewrite(c) }); got > base+1 {
		t.Errorf("Rewrite allocs = %v, Ctx baseline %v", got, base)
	}
}
