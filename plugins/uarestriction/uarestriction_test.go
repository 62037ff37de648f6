package uarestriction

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) plugin.Accessor {
	t.Helper()
	return plugintest.MustNew(t, "ua-restriction", conf).(plugin.Accessor)
}

func TestAccess(t *testing.T) {
	const notAllowed = "{\"message\":\"Not allowed\"}\n"
	const deny = `{"denylist":["(Baiduspider)/(\\d+)\\.(\\d+)","bad-bot-1"]}`
	const allow = `{"allowlist":["my-bot1","(Baiduspider)/(\\d+)\\.(\\d+)"]}`
	tests := []struct {
		name   string
		conf   string
		uas    []string // nil: no User-Agent header
		status int      // 0: passes
		body   string
	}{
		{"ua-restriction.t: denylist match → 403", deny, []string{"Baiduspider/3.0"}, 403, notAllowed},
		{"ua-restriction.t: denylist clean UA passes", deny, []string{"Mozilla/5.0"}, 0, ""},
		{"plugins.md §4: value trimmed before search", deny, []string{"  bad-bot-1  "}, 403, notAllowed},
		{"ua-restriction.t: missing UA → 403", deny, nil, 403, notAllowed},
		{"ua-restriction.t: bypass_missing", `{"denylist":["x"],"bypass_missing":true}`, nil, 0, ""},
		{"ua-restriction.t: custom message",
			`{"denylist":["foo"],"message":"Do you want to do something bad?"}`, []string{"foo"},
			403, "{\"message\":\"Do you want to do something bad?\"}\n"},
		{"ua-restriction.t: allowlist match passes", allow, []string{"my-bot1"}, 0, ""},
		{"ua-restriction.t: allowlist miss → 403", allow, []string{"other"}, 403, notAllowed},
		{"allowlist: missing UA → 403", allow, nil, 403, notAllowed},
		{"ua-restriction.t TEST 8/9: allowlist, several values, one allowed", allow,
			[]string{"other", "my-bot1"}, 0, ""},
		{"allowlist, several values, none allowed", allow, []string{"a", "b"}, 403, notAllowed},
		{"ua-restriction.t TEST 8/9: denylist, one denied + one clean value → 403", deny,
			[]string{"Baiduspider/3.0", "Mozilla"}, 403, notAllowed},
		{"plugins.md §10.9: denylist, several values all denied → passes (inverted check)", deny,
			[]string{"Baiduspider/3.0", "bad-bot-1"}, 0, ""},
		{"plugins.md §10.9: denylist, several clean values → 403 (inverted check)", deny,
			[]string{"a", "b"}, 403, notAllowed},
		{"unanchored search", `{"denylist":["bot"]}`, []string{"my-robot/1.0"}, 403, notAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf)
			c := plugintest.New()
			if tc.uas != nil {
				c.ReqHeader["User-Agent"] = tc.uas
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

func TestNewInvalidRegex(t *testing.T) {
	for _, conf := range []string{`{"denylist":["a("]}`, `{"allowlist":["(?=x)"]}`} {
		if _, err := New(json.RawMessage(conf), plugin.Env{}); err == nil ||
			!strings.Contains(err.Error(), "invalid regex") {
			t.Errorf("New(%s) = %v, want an invalid regex error", conf, err)
		}
	}
}
