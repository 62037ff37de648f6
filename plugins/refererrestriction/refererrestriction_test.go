package refererrestriction

import (
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) plugin.Accessor {
	t.Helper()
	return plugintest.MustNew(t, "referer-restriction", conf).(plugin.Accessor)
}

func TestAccess(t *testing.T) {
	const denied = "{\"message\":\"Your referer host is not allowed\"}\n"
	const white = `{"whitelist":["httpbin.org","youtube.com","*.qq.com"]}`
	const black = `{"blacklist":["httpbin.org","*.qq.com"]}`
	tests := []struct {
		name    string
		conf    string
		referer string // "-": no header
		status  int    // 0: passes
		body    string
	}{
		{"referer-restriction.t: whitelist exact host", white, "http://www.qq.com/", 0, ""},
		{"referer-restriction.t: whitelist with port and path", white, "https://httpbin.org:8080/x?y", 0, ""},
		{"referer-restriction.t: whitelist suffix", white, "http://a.b.qq.com", 0, ""},
		{"referer-restriction.t: suffix needs the dot", white, "http://qq.com", 403, denied},
		{"referer-restriction.t: whitelist miss → 403", white, "http://www.baidu.com", 403, denied},
		{"referer-restriction.t: missing Referer → 403", white, "-", 403, denied},
		{"referer-restriction.t: malformed Referer → 403", white, "www.qq.com", 403, denied},
		{"referer-restriction.t: bypass_missing, missing",
			`{"whitelist":["x.com"],"bypass_missing":true}`, "-", 0, ""},
		{"referer-restriction.t: bypass_missing, malformed",
			`{"whitelist":["x.com"],"bypass_missing":true}`, "ftp://x.com", 0, ""},
		{"bypass_missing does not pass an unlisted host",
			`{"whitelist":["x.com"],"bypass_missing":true}`, "http://y.com", 403, denied},
		{"referer-restriction.t: blacklist hit → 403", black, "http://httpbin.org/get", 403, denied},
		{"referer-restriction.t: blacklist suffix hit", black, "http://m.qq.com", 403, denied},
		{"referer-restriction.t: blacklist miss passes", black, "http://example.com", 0, ""},
		{"referer-restriction.t: custom message",
			`{"blacklist":["a.com"],"message":"Your host is not allowed"}`, "http://a.com",
			403, "{\"message\":\"Your host is not allowed\"}\n"},
		{"'*' alone matches every host", `{"whitelist":["*"]}`, "http://anything.example", 0, ""},
		{"scheme-relative Referer", white, "//youtube.com/watch", 0, ""},
		{"parse_uri: host ends at '?'", white, "http://youtube.com?x=1", 0, ""},
		{"parse_uri: userinfo stays in the host", white, "http://u@youtube.com/", 403, denied},
		{"parse_uri: upper-case scheme is malformed", white, "HTTP://youtube.com/", 403, denied},
		{"bracketed literal", `{"whitelist":["[::1]"]}`, "http://[::1]:80/", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf)
			c := plugintest.New()
			if tc.referer != "-" {
				c.ReqHeader.Set("Referer", tc.referer)
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

func FuzzRefererHost(f *testing.F) {
	for _, s := range []string{"http://a.com/", "https://[::1]:8/x]", "//x", "http://", "http://[]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := refererHost([]byte(s))
		if h != nil && len(h) == 0 {
			t.Fatalf("empty host for %q", s)
		}
	})
}
