package csrf

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin/plugintest"
)

// A token computed independently (Python: %.14g, hashlib.sha256, base64) for key "userkey",
// random 0.12345678901234567 issued at 1700000000.
const (
	issued   = 1700000000
	vector   = "eyJyYW5kb20iOjAuMTIzNDU2Nzg5MDEyMzUsImV4cGlyZXMiOjE3MDAwMDAwMDAsInNpZ24iOiIxNTk5ZjdkOWUzNDQ5N2ExNTg3ODI1MmJlYjdkMWNlYWIyNGRhZDNkMDZiN2M0MTFkOGUzNTEzM2IzNmZlYjQ5In0="
	vectorJS = `{"random":0.12345678901235,"expires":1700000000,"sign":"1599f7d9e34497a15878252beb7d1ceab24dad3d06b7c411d8e35133b36feb49"}`
)

func compile(t *testing.T, conf string, now int64) *CSRF {
	t.Helper()
	p := plugintest.MustNew(t, "csrf", conf).(*CSRF)
	p.now = func() time.Time { return time.Unix(now, 0) }
	p.random = func() float64 { return 0.12345678901234567 }
	return p
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestHeaderFilterSetsCookie(t *testing.T) {
	p := compile(t, `{"key":"userkey"}`, issued)
	c := plugintest.New()
	c.RespHdr.Add("Set-Cookie", "session=1")
	p.HeaderFilter(c)
	want := []string{"session=1",
		"apisix-csrf-token=" + vector + ";path=/;SameSite=Lax;Expires=Wed, 15-Nov-23 00:13:20 GMT"}
	if got := c.RespHdr.Values("Set-Cookie"); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Set-Cookie\n got %q\nwant %q", got, want)
	}
}

func TestCookieTime(t *testing.T) {
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{1289993255, "Wed, 17-Nov-10 11:27:35 GMT"},
		{time.Date(2037, 12, 31, 23, 59, 59, 0, time.UTC).Unix(), "Thu, 31-Dec-37 23:59:59 GMT"},
		{time.Date(2038, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), "Fri, 01-Jan-2038 00:00:00 GMT"},
	} {
		if got := string(appendCookieTime(nil, time.Unix(tc.unix, 0))); got != tc.want {
			t.Errorf("cookie time %d = %q, want %q", tc.unix, got, tc.want)
		}
	}
}

func TestNumberFormat(t *testing.T) {
	for f, want := range map[float64]string{1e-05: "1e-05", 0.0001234: "0.0001234", 1e14: "1e+14",
		123456789012345678: "1.2345678901235e+17", 0.5: "0.5", 1700000000: "1700000000", 0: "0"} {
		if got := string(appendNumber(nil, f)); got != want {
			t.Errorf("%%.14g of %v = %q, want %q", f, got, want)
		}
	}
}

func TestAccess(t *testing.T) {
	const (
		noHeader = "{\"error_msg\":\"no csrf token in headers\"}\n"
		noCookie = "{\"error_msg\":\"no csrf cookie\"}\n"
		mismatch = "{\"error_msg\":\"csrf token mismatch\"}\n"
		badSign  = "{\"error_msg\":\"Failed to verify the csrf token signature\"}\n"
	)
	tests := []struct {
		name   string
		conf   string
		now    int64
		method string
		header string // "-": absent
		cookie string // "-": absent
		status int    // 0: passes
		body   string
	}{
		{"csrf.t: GET passes without token", `{"key":"userkey"}`, issued, "GET", "-", "-", 0, ""},
		{"plugins.md §4: HEAD and OPTIONS pass", `{"key":"userkey"}`, issued, "HEAD", "-", "-", 0, ""},
		{"plugins.md §4: OPTIONS passes", `{"key":"userkey"}`, issued, "OPTIONS", "-", "-", 0, ""},
		{"csrf.t: POST without header → 401", `{"key":"userkey"}`, issued, "POST", "-", vector, 401, noHeader},
		{"plugins.md §4: empty header → 401", `{"key":"userkey"}`, issued, "POST", "", vector, 401, noHeader},
		{"csrf.t: POST without cookie → 401", `{"key":"userkey"}`, issued, "POST", vector, "-", 401, noCookie},
		{"csrf.t: header ≠ cookie → 401", `{"key":"userkey"}`, issued, "POST", vector, "x" + vector, 401, mismatch},
		{"csrf.t: valid token passes", `{"key":"userkey"}`, issued + 10, "POST", vector, vector, 0, ""},
		{"csrf.t: PUT with valid token", `{"key":"userkey"}`, issued, "PUT", vector, vector, 0, ""},
		{"csrf.t: other key → signature fails", `{"key":"other"}`, issued, "POST", vector, vector, 401, badSign},
		{"csrf.t: expired token", `{"key":"userkey","expires":1}`, issued + 2, "POST", vector, vector, 401, badSign},
		{"expiry boundary: now − issue = expires passes", `{"key":"userkey","expires":2}`, issued + 2, "POST", vector, vector, 0, ""},
		{"plugins.md §4: expires 0 disables the expiry check", `{"key":"userkey","expires":0}`, issued + 1e8, "POST", vector, vector, 0, ""},
		{"default expires 7200 exceeded", `{"key":"userkey"}`, issued + 7201, "POST", vector, vector, 401, badSign},
		{"custom name", `{"key":"userkey","name":"my-token"}`, issued, "POST", vector, vector, 0, ""},
		{"not base64", `{"key":"userkey"}`, issued, "POST", "%%%", "%%%", 401, badSign},
		{"not JSON", `{"key":"userkey"}`, issued, "POST", b64("nope"), b64("nope"), 401, badSign},
		{"no random", `{"key":"userkey"}`, issued, "POST", b64(`{"expires":1700000000,"sign":"x"}`),
			b64(`{"expires":1700000000,"sign":"x"}`), 401, badSign},
		{"no expires", `{"key":"userkey"}`, issued, "POST", b64(`{"random":0.5,"sign":"x"}`),
			b64(`{"random":0.5,"sign":"x"}`), 401, badSign},
		{"unpadded base64 accepted", `{"key":"userkey"}`, issued, "POST", vector[:len(vector)-1],
			vector[:len(vector)-1], 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf, tc.now)
			name := p.name
			c := plugintest.New()
			c.MethodV = tc.method
			if tc.header != "-" {
				c.ReqHeader.Set(name, tc.header)
			}
			if tc.cookie != "-" {
				c.ReqHeader.Set("Cookie", "a=b; "+name+"="+tc.cookie)
			}
			p.Access(c)
			if tc.status == 0 {
				if c.Exited() {
					t.Fatalf("exited %d %q, want pass", c.ExitStatus, c.ExitBody)
				}
				return
			}
			if c.ExitStatus != tc.status || string(c.ExitBody) != tc.body {
				t.Fatalf("got %d %q, want %d %q", c.ExitStatus, c.ExitBody, tc.status, tc.body)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	p := compile(t, `{"key":"k3y"}`, time.Now().Unix())
	p.random = func() float64 { return 1e-05 }
	tok := string(appendToken(nil, p.random(), p.now().Unix(), p.key))
	if !verify([]byte(tok), p.key, p.expires, p.now().Unix()) {
		t.Fatalf("own token %s does not verify", tok)
	}
}

func TestVerifyFieldForms(t *testing.T) {
	sign := func(exp, rnd string) string {
		return string(appendSign(nil, []byte(exp), []byte(rnd), "userkey"))
	}
	for _, tc := range []struct {
		name string
		js   string
		ok   bool
	}{
		{"the vector", vectorJS, true},
		{"any key order, whitespace", ` { "sign" : "` + sign("1700000000", "0.12345678901235") +
			`" , "expires" : 1700000000 , "random" : 0.12345678901235 } `, true},
		{"extra fields and nesting", `{"x":[1,{"y":"}"}],"random":0.5,"expires":1700000000,"sign":"` +
			sign("1700000000", "0.5") + `"}`, true},
		{"string random used verbatim", `{"random":"abc","expires":1700000000,"sign":"` +
			sign("1700000000", "abc") + `"}`, true},
		{"numeric string expires", `{"random":0.5,"expires":"1700000000","sign":"` +
			sign("1700000000", "0.5") + `"}`, true},
		{"number rendered with %.14g", `{"random":0.50000000000000001,"expires":1.7e9,"sign":"` +
			sign("1700000000", "0.5") + `"}`, true},
		{"false random", `{"random":false,"expires":1700000000,"sign":"x"}`, false},
		{"null random", `{"random":null,"expires":1700000000,"sign":"x"}`, false},
		{"trailing garbage", vectorJS + "x", false},
		{"upper-case sign", `{"random":0.5,"expires":1700000000,"sign":"` +
			string(upper(sign("1700000000", "0.5"))) + `"}`, false},
		{"array", `[1]`, false},
	} {
		got := verify([]byte(b64(tc.js)), "userkey", 7200, issued)
		if got != tc.ok {
			t.Errorf("%s: verify = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func upper(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return b
}

func FuzzParseFields(f *testing.F) {
	f.Add([]byte(vectorJS))
	f.Add([]byte(`{"a":[{"b":"\"]"}],"random":"\u0041"}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		_, ok := parseFields(js)
		if ok && !json.Valid(js) {
			t.Fatalf("accepted invalid JSON %q", js)
		}
	})
}

func BenchmarkHeaderFilter(b *testing.B) {
	p := compile(&testing.T{}, `{"key":"userkey"}`, issued)
	c := plugintest.New()
	b.ReportAllocs()
	for b.Loop() {
		c.RespHdr = nil
		p.HeaderFilter(nopResp{c})
	}
}

func BenchmarkVerify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		verify([]byte(vector), "userkey", 7200, issued)
	}
}

// nopResp drops response headers so the benchmark measures the plugin alone.
type nopResp struct{ *plugintest.Ctx }

func (nopResp) AddRespHeader(string, string) {}

func TestDocsExampleToken(t *testing.T) {
	const tok = "eyJyYW5kb20iOjAuNDI5ODYzMTcyMDQ0NDUsImV4cGlyZXMiOjE2NDI2MzgxNTYsInNpZ24iOiIwNWFiOTU3MTg0MTA1MDA3MmI0NThkMDYwZWZlMWZkNTkyNWRjZTU2NDRjMDM2ODE0Njk0YjJmM2UzZGM3ZDE0In0="
	if !verify([]byte(tok), "edd1c9f034335f136f87ad84b625c8f1", 7200, 1642638156+60) {
		t.Fatal("the token in docs/plugins/csrf.md does not verify")
	}
}
