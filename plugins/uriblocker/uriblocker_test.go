package uriblocker

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) plugin.Rewriter {
	t.Helper()
	return plugintest.MustNew(t, "uri-blocker", conf).(plugin.Rewriter)
}

func TestRewrite(t *testing.T) {
	const rules = `"block_rules":["root.exe","root.m+"]`
	tests := []struct {
		name   string
		conf   string
		path   string
		query  string
		status int // 0: passes
		body   string
	}{
		{"uri-blocker.t: match → 403, nginx page", `{` + rules + `}`, "/root.exe", "", 403, ""},
		{"uri-blocker.t: second rule", `{` + rules + `}`, "/x/root.mmm", "", 403, ""},
		{"uri-blocker.t: no match passes", `{` + rules + `}`, "/hello", "", 0, ""},
		{"uri-blocker.t: searched in the query string too", `{` + rules + `}`, "/hello", "name=root.exe", 403, ""},
		{"uri-blocker.t: rejected_code", `{` + rules + `,"rejected_code":410}`, "/root.exe", "", 410, ""},
		{"uri-blocker.t: rejected_msg", `{` + rules + `,"rejected_msg":"access is not allowed"}`,
			"/root.exe", "", 403, "{\"error_msg\":\"access is not allowed\"}\n"},
		{"uri-blocker.t: case sensitive by default", `{` + rules + `}`, "/ROOT.exe", "", 0, ""},
		{"uri-blocker.t: case_insensitive", `{` + rules + `,"case_insensitive":true}`, "/ROOT.exe", "", 403, ""},
		{"case_insensitive covers every rule", `{` + rules + `,"case_insensitive":true}`, "/ROOT.MM", "", 403, ""},
		{"anchored rule", `{"block_rules":["^/admin"]}`, "/x/admin", "", 0, ""},
		{"anchored rule hit", `{"block_rules":["^/admin"]}`, "/admin/x", "", 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf)
			c := plugintest.New()
			c.Path = tc.path
			c.Query, _ = url.ParseQuery(tc.query)
			p.Rewrite(c)
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
	for _, conf := range []string{`{"block_rules":["^b("]}`, `{"block_rules":["a(?!b)"]}`} {
		if _, err := New(json.RawMessage(conf), plugin.Env{}); err == nil ||
			!strings.Contains(err.Error(), "invalid regex") {
			t.Errorf("New(%s) = %v, want an invalid regex error", conf, err)
		}
	}
}
