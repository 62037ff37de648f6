package basicauth

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var (
	foo  = &plugin.Consumer{Username: "foo", Labels: map[string]string{"custom_id": "42"}}
	bar  = &plugin.Consumer{Username: "bar", CredentialID: "bar-cred"}
	anon = &plugin.Consumer{Username: "anonymous"}
)

func testIndex(t *testing.T) any {
	t.Helper()
	t.Setenv("SLUICE_TEST_PASS", "env-pass")
	ix, err := Index([]plugin.Credential{
		{Consumer: foo, Conf: json.RawMessage(`{"username":"foo","password":"bar"}`)},
		{Consumer: bar, Conf: json.RawMessage(`{"username":"bar","password":"p:w"}`)},
		{Consumer: &plugin.Consumer{Username: "env"}, Conf: json.RawMessage(`{"username":"env","password":"$env://SLUICE_TEST_PASS"}`)},
		{Consumer: &plugin.Consumer{Username: "unset"}, Conf: json.RawMessage(`{"username":"unset","password":"$env://SLUICE_TEST_UNSET_VAR"}`)},
		{Consumer: &plugin.Consumer{Username: "nopass"}, Conf: json.RawMessage(`{"username":"nopass"}`)},
		{Consumer: anon},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestRewrite(t *testing.T) {
	const www = `Basic realm="basic"`
	var (
		missing     = `{"message":"Missing authorization in request"}` + "\n"
		invalid     = `{"message":"Invalid authorization in request"}` + "\n"
		invalidUser = `{"message":"Invalid user authorization"}` + "\n"
	)
	tests := []struct {
		name     string
		conf     string
		auth     []string // Authorization values
		status   int
		body     string
		www      string
		consumer string
		upstream map[string]string
		keepAuth bool
	}{
		{name: "basic-auth.t: valid credentials", conf: `{}`, auth: []string{"Basic " + b64("foo:bar")},
			consumer: "foo", keepAuth: true,
			upstream: map[string]string{"X-Consumer-Username": "foo", "X-Consumer-Custom-ID": "42", "X-Credential-Identifier": ""}},
		{name: "basic-auth.t: credential object", conf: `{}`, auth: []string{"Basic " + b64("bar:p")},
			status: 401, body: invalidUser, www: www, keepAuth: true},
		{name: "plugins.md §3 basic-auth: text after a second ':' is dropped", conf: `{}`, auth: []string{"Basic " + b64("foo:bar:baz")},
			consumer: "foo", keepAuth: true},
		{name: "plugins.md §3 basic-auth: credential with ':' in the password never matches", conf: `{}`, auth: []string{"Basic " + b64("bar:p:w")},
			status: 401, body: invalidUser, www: www, keepAuth: true},
		{name: "plugins.md §3 basic-auth: whitespace is deleted", conf: `{}`, auth: []string{"Basic " + b64(" fo o :\tbar ")},
			consumer: "foo", keepAuth: true},
		{name: "plugins.md §3 basic-auth: scheme is case-insensitive and found anywhere", conf: `{}`, auth: []string{"xx bAsIc " + b64("foo:bar")},
			consumer: "foo", keepAuth: true},
		{name: "basic-auth.t: missing authorization", conf: `{}`,
			status: 401, body: missing, www: www},
		{name: "basic-auth.t: not basic", conf: `{}`, auth: []string{"Bearer abc"},
			status: 401, body: invalid, www: www, keepAuth: true},
		{name: "basic-auth.t: bad base64", conf: `{}`, auth: []string{"Basic a*b"},
			status: 401, body: invalid, www: www, keepAuth: true},
		{name: "basic-auth.t: no colon", conf: `{}`, auth: []string{"Basic " + b64("foobar")},
			status: 401, body: invalid, www: www, keepAuth: true},
		{name: "plugins.md §3 basic-auth: empty password field is dropped by split", conf: `{}`, auth: []string{"Basic " + b64("foo:")},
			status: 401, body: invalid, www: www, keepAuth: true},
		{name: "basic-auth.t: unknown user", conf: `{}`, auth: []string{"Basic " + b64("who:bar")},
			status: 401, body: invalidUser, www: www, keepAuth: true},
		{name: "basic-auth.t: wrong password", conf: `{}`, auth: []string{"Basic " + b64("foo:baz")},
			status: 401, body: invalidUser, www: www, keepAuth: true},
		{name: "basic-auth.t: custom realm", conf: `{"realm":"sluice"}`,
			status: 401, body: missing, www: `Basic realm="sluice"`},
		{name: "basic-auth.t: hide_credentials", conf: `{"hide_credentials":true}`, auth: []string{"Basic " + b64("foo:bar")},
			consumer: "foo"},
		{name: "secret: $env:// password", conf: `{}`, auth: []string{"Basic " + b64("env:env-pass")},
			consumer: "env", keepAuth: true},
		{name: "secret: unresolved reference skipped", conf: `{}`, auth: []string{"Basic " + b64("unset:$env://SLUICE_TEST_UNSET_VAR")},
			status: 401, body: invalidUser, www: www, keepAuth: true},
		{name: "basic-auth-anonymous-consumer.t: fallback", conf: `{"anonymous_consumer":"anonymous"}`,
			consumer: "anonymous", upstream: map[string]string{"X-Consumer-Username": "anonymous"}},
		{name: "basic-auth-anonymous-consumer.t: fallback with hide removes Authorization", conf: `{"anonymous_consumer":"anonymous","hide_credentials":true}`,
			auth: []string{"Basic " + b64("foo:nope")}, consumer: "anonymous"},
		{name: "basic-auth-anonymous-consumer.t: unknown anonymous consumer", conf: `{"anonymous_consumer":"ghost"}`,
			auth: []string{"Basic " + b64("foo:nope")}, status: 401, body: invalidUser, www: www, keepAuth: true},
	}
	ix := testIndex(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := New(json.RawMessage(tt.conf), plugin.Env{})
			if err != nil {
				t.Fatal(err)
			}
			c := plugintest.New()
			c.Index = ix
			if tt.auth != nil {
				c.ReqHeader["Authorization"] = tt.auth
			}
			inst.(*BasicAuth).Rewrite(c)
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
			for h, want := range tt.upstream {
				if got := c.ReqHeader.Get(h); got != want {
					t.Errorf("upstream %s = %q, want %q", h, got, want)
				}
			}
			if _, ok := c.ReqHeader["Authorization"]; tt.auth != nil && ok != tt.keepAuth {
				t.Errorf("Authorization still sent = %v, want %v", ok, tt.keepAuth)
			}
		})
	}
}

func TestParseBasic(t *testing.T) {
	tests := []struct {
		in, user, pass string
		ok             bool
	}{
		{"Basic " + b64("a:b"), "a", "b", true},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("a:bc")), "a", "bc", true}, // padding optional
		{"Basic " + b64("a:b") + "=garbage", "a", "b", true},                               // nginx stops at '='
		{"Basic " + b64(":b"), "", "b", true},
		{"Basic " + b64("a::b"), "a", "", true},
		{"Basic " + b64("::"), "", "", false},
		{"Basic ", "", "", false},
		{"Basic", "", "", false},
		{"Basic\t" + b64("a:b"), "a", "b", true},
		{"Basic " + b64("ab:cd")[:5], "", "", false}, // length % 4 == 1
		{"Basic YTpi\nZm9v", "a", "b", true},         // '.' stops at a newline
	}
	for _, tt := range tests {
		user, pass, ok := parseBasic([]byte(tt.in), nil)
		if ok != tt.ok || (ok && (string(user) != tt.user || string(pass) != tt.pass)) {
			t.Errorf("parseBasic(%q) = %q, %q, %v; want %q, %q, %v", tt.in, user, pass, ok, tt.user, tt.pass, tt.ok)
		}
	}
}

func FuzzParseBasic(f *testing.F) {
	f.Add("Basic " + b64("foo:bar"))
	f.Add("basic\v=")
	f.Fuzz(func(t *testing.T, s string) {
		user, pass, ok := parseBasic([]byte(s), nil)
		if !ok && (user != nil || pass != nil) {
			t.Fatal("results on failure")
		}
	})
}

func TestRewriteAllocs(t *testing.T) {
	ix := testIndex(t)
	inst, _ := New(json.RawMessage(`{}`), plugin.Env{})
	b := inst.(*BasicAuth)
	c := plugintest.New()
	c.Index = ix
	c.ReqHeader.Set("Authorization", "Basic "+b64("foo:bar"))
	base := testing.AllocsPerRun(100, func() {
		c.Header("Authorization")
		c.AttachConsumer(foo)
		c.SetHeader("X-Consumer-Username", "foo")
		c.SetHeader("X-Consumer-Custom-ID", "42")
		c.DelHeader("X-Credential-Identifier")
	})
	if got := testing.AllocsPerRun(100, func() { b.Rewrite(c) }); got > base {
		t.Errorf("Rewrite allocs = %v, Ctx baseline %v", got, base)
	}
}
