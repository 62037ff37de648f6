package multiauth

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	_ "github.com/sluicegw/sluice/plugins/basicauth"
	_ "github.com/sluicegw/sluice/plugins/hmacauth"
	_ "github.com/sluicegw/sluice/plugins/jwtauth"
	_ "github.com/sluicegw/sluice/plugins/keyauth"
	_ "github.com/sluicegw/sluice/plugins/proxybuffering"
)

var (
	jack = &plugin.Consumer{Username: "jack"}
	rose = &plugin.Consumer{Username: "rose", CredentialID: "cred-1"}
	anon = &plugin.Consumer{Username: "anonymous"}
)

// testIndex is what the runtime hands multi-auth: every auth plugin's credentials, tagged
// with the plugin, and consumers without a credential as plain identities.
func testIndex(t *testing.T) Indexes {
	t.Helper()
	ix, err := Index([]plugin.Credential{
		{Consumer: jack, Plugin: "key-auth", Conf: json.RawMessage(`{"key":"jack-key"}`)},
		{Consumer: rose, Plugin: "basic-auth", Conf: json.RawMessage(`{"username":"rose","password":"rose-pw"}`)},
		{Consumer: anon},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix.(Indexes)
}

func compile(t *testing.T, conf string) *MultiAuth {
	t.Helper()
	inst, err := New(json.RawMessage(conf), plugin.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst.(*MultiAuth)
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func TestRewrite(t *testing.T) {
	const keyThenBasic = `{"auth_plugins":[{"key-auth":{}},{"basic-auth":{}}]}`
	tests := []struct {
		name     string
		conf     string
		header   map[string]string
		status   int // 0: passed through
		body     string
		www      string // final WWW-Authenticate ("" absent)
		consumer string
		credID   string // X-Credential-Identifier sent upstream
	}{
		{name: "first plugin succeeds", conf: keyThenBasic,
			header: map[string]string{"apikey": "jack-key"}, consumer: "jack"},
		{name: "second plugin succeeds, first one's header stays", conf: keyThenBasic,
			header:   map[string]string{"Authorization": basic("rose", "rose-pw")},
			www:      `apikey realm="key"`,
			consumer: "rose", credID: "cred-1"},
		{name: "all fail", conf: keyThenBasic,
			header: map[string]string{"apikey": "wrong"},
			status: 401, body: `{"message":"Authorization Failed"}` + "\n", www: `Basic realm="basic"`},
		{name: "no credentials at all", conf: `{"auth_plugins":[{"basic-auth":{}},{"key-auth":{}}]}`,
			status: 401, body: `{"message":"Authorization Failed"}` + "\n", www: `apikey realm="key"`},
		{name: "anonymous consumer of a sub-plugin counts as success",
			conf:   `{"auth_plugins":[{"basic-auth":{}},{"key-auth":{"anonymous_consumer":"anonymous"}}]}`,
			www:    `Basic realm="basic"`,
			header: map[string]string{}, consumer: "anonymous"},
		{name: "wrong password then right key", conf: `{"auth_plugins":[{"basic-auth":{}},{"key-auth":{}}]}`,
			header: map[string]string{"Authorization": basic("rose", "nope"), "apikey": "jack-key"},
			www:    `Basic realm="basic"`, consumer: "jack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compile(t, tt.conf)
			c := plugintest.New()
			c.Index = testIndex(t)
			for k, v := range tt.header {
				c.ReqHeader.Set(k, v)
			}
			m.Rewrite(c)
			if tt.status == 0 {
				if c.Exited() {
					t.Fatalf("exited %d %s", c.ExitStatus, c.ExitBody)
				}
			} else if !c.Exited() || c.ExitStatus != tt.status || string(c.ExitBody) != tt.body {
				t.Fatalf("exit = %v %d %q, want %d %q", c.Exited(), c.ExitStatus, c.ExitBody, tt.status, tt.body)
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
			if tt.consumer != "" {
				if u := c.ReqHeader.Get("X-Consumer-Username"); u != tt.consumer {
					t.Errorf("X-Consumer-Username = %q", u)
				}
				if id := c.ReqHeader.Get("X-Credential-Identifier"); id != tt.credID {
					t.Errorf("X-Credential-Identifier = %q, want %q", id, tt.credID)
				}
			}
		})
	}
}

// Without an index (no consumer carries any credential) every sub-plugin fails closed.
func TestRewriteWithoutIndex(t *testing.T) {
	m := compile(t, `{"auth_plugins":[{"key-auth":{}},{"basic-auth":{}}]}`)
	c := plugintest.New()
	c.ReqHeader.Set("apikey", "jack-key")
	m.Rewrite(c)
	if c.ExitStatus != 401 || string(c.ExitBody) != "{\"message\":\"Authorization Failed\"}\n" {
		t.Fatalf("exit = %d %q", c.ExitStatus, c.ExitBody)
	}
}

func TestIndex(t *testing.T) {
	ix := testIndex(t)
	for _, p := range []string{"key-auth", "basic-auth", "jwt-auth", "hmac-auth"} {
		if ix[p] == nil {
			t.Errorf("no %s index", p)
		}
	}
	if _, ok := ix[name]; ok {
		t.Error("multi-auth indexed itself")
	}
	// Untagged credentials are identities only: a key-auth conf without Plugin is no key.
	raw, err := Index([]plugin.Credential{{Consumer: jack, Conf: json.RawMessage(`{"key":"jack-key"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	m := compile(t, `{"auth_plugins":[{"key-auth":{}},{"basic-auth":{}}]}`)
	c := plugintest.New()
	c.Index = raw
	c.ReqHeader.Set("apikey", "jack-key")
	m.Rewrite(c)
	if c.ExitStatus != 401 {
		t.Errorf("untagged key authenticated: %d", c.ExitStatus)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct{ conf, want string }{
		{`{"auth_plugins":[{"key-auth":{}},{"nope":{}}]}`, "nope plugin did not found"},
		{`{"auth_plugins":[{"key-auth":{}},{"proxy-buffering":{}}]}`, "proxy-buffering plugin is not supported"},
		{`{"auth_plugins":[{"key-auth":{}},{"multi-auth":{"auth_plugins":[]}}]}`, "multi-auth plugin is not supported"},
		{`{"auth_plugins":[{"key-auth":{"header":5}},{"basic-auth":{}}]}`, "plugin key-auth check schema failed: "},
	} {
		_, err := New(json.RawMessage(tt.conf), plugin.Env{})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("New(%s) = %v, want %q", tt.conf, err, tt.want)
		}
	}
}
