package keyauth

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

var (
	jack = &plugin.Consumer{Username: "jack", Labels: map[string]string{"custom_id": "c-1"}}
	rose = &plugin.Consumer{Username: "rose", CredentialID: "cred-1"}
	anon = &plugin.Consumer{Username: "anonymous"}
)

func testIndex(t *testing.T) any {
	t.Helper()
	t.Setenv("SLUICE_TEST_KEY", "env-key")
	t.Setenv("SLUICE_TEST_JSON", `{"k":"json-key"}`)
	ix, err := Index([]plugin.Credential{
		{Consumer: jack, Conf: json.RawMessage(`{"key":"auth-one"}`)},
		{Consumer: rose, Conf: json.RawMessage(`{"key":"auth-two"}`)},
		{Consumer: &plugin.Consumer{Username: "env"}, Conf: json.RawMessage(`{"key":"$env://SLUICE_TEST_KEY"}`)},
		{Consumer: &plugin.Consumer{Username: "envjson"}, Conf: json.RawMessage(`{"key":"$ENV://SLUICE_TEST_JSON/k"}`)},
		{Consumer: &plugin.Consumer{Username: "unset"}, Conf: json.RawMessage(`{"key":"$env://SLUICE_TEST_UNSET_VAR"}`)},
		{Consumer: &plugin.Consumer{Username: "vault"}, Conf: json.RawMessage(`{"key":"$secret://vault/1/jack/key"}`)},
		{Consumer: &plugin.Consumer{Username: "nokey"}, Conf: json.RawMessage(`{}`)},
		{Consumer: anon}, // a consumer without the credential: known by name only
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestRewrite(t *testing.T) {
	const wwwKey = `apikey realm="key"`
	tests := []struct {
		name     string
		conf     string
		header   http.Header
		query    map[string]string
		status   int    // 0: passed through
		body     string // exit body
		www      string
		consumer string
		upstream map[string]string // expected upstream headers ("" = absent)
		hasHdr   bool              // apikey header still sent upstream
		hasArg   bool              // apikey arg still sent upstream
	}{
		{name: "key-auth.t: valid key in header", conf: `{}`,
			header: http.Header{"Apikey": {"auth-one"}}, consumer: "jack", hasHdr: true,
			upstream: map[string]string{"X-Consumer-Username": "jack", "X-Consumer-Custom-ID": "c-1", "X-Credential-Identifier": ""}},
		{name: "key-auth.t: credential object sets X-Credential-Identifier", conf: `{}`,
			header: http.Header{"Apikey": {"auth-two"}, "X-Consumer-Custom-Id": {"forged"}}, consumer: "rose", hasHdr: true,
			upstream: map[string]string{"X-Consumer-Username": "rose", "X-Credential-Identifier": "cred-1", "X-Consumer-Custom-ID": ""}},
		{name: "key-auth.t: valid key in query", conf: `{}`,
			query: map[string]string{"apikey": "auth-one"}, consumer: "jack", hasArg: true},
		{name: "plugins.md §3 key-auth: header wins over query", conf: `{}`,
			header: http.Header{"Apikey": {"bad"}}, query: map[string]string{"apikey": "auth-one"},
			status: 401, body: `{"message":"Invalid API key in request"}` + "\n", www: wwwKey, hasHdr: true, hasArg: true},
		{name: "plugins.md §3 key-auth: empty header is a present, wrong key", conf: `{}`,
			header: http.Header{"Apikey": {""}}, query: map[string]string{"apikey": "auth-one"},
			status: 401, body: `{"message":"Invalid API key in request"}` + "\n", www: wwwKey, hasHdr: true, hasArg: true},
		{name: "key-auth.t: missing key", conf: `{}`,
			status: 401, body: `{"message":"Missing API key in request"}` + "\n", www: wwwKey},
		{name: "key-auth.t: invalid key", conf: `{}`,
			header: http.Header{"Apikey": {"123"}},
			status: 401, body: `{"message":"Invalid API key in request"}` + "\n", www: wwwKey, hasHdr: true},
		{name: "key-auth.t: custom header and realm", conf: `{"header":"Authorization","realm":"my realm"}`,
			header: http.Header{"Authorization": {"nope"}},
			status: 401, body: `{"message":"Invalid API key in request"}` + "\n", www: `apikey realm="my realm"`, hasHdr: true},
		{name: "key-auth.t: custom query", conf: `{"query":"auth"}`,
			query: map[string]string{"auth": "auth-one"}, consumer: "jack"},
		{name: "key-auth.t: hide_credentials removes the header", conf: `{"hide_credentials":true}`,
			header: http.Header{"Apikey": {"auth-one"}}, query: map[string]string{"apikey": "x"}, consumer: "jack", hasArg: true},
		{name: "key-auth.t: hide_credentials removes the query arg", conf: `{"hide_credentials":true}`,
			query: map[string]string{"apikey": "auth-one"}, consumer: "jack"},
		{name: "secret: $env:// resolved at index build", conf: `{}`,
			header: http.Header{"Apikey": {"env-key"}}, consumer: "env", hasHdr: true},
		{name: "secret: $env://VAR/field resolved from JSON", conf: `{}`,
			header: http.Header{"Apikey": {"json-key"}}, consumer: "envjson", hasHdr: true},
		{name: "secret: unresolved $env:// reference is skipped", conf: `{}`,
			header: http.Header{"Apikey": {"$env://SLUICE_TEST_UNSET_VAR"}},
			status: 401, body: `{"message":"Invalid API key in request"}` + "\n", www: wwwKey, hasHdr: true},
		{name: "secret: $secret:// reference is skipped", conf: `{}`,
			header: http.Header{"Apikey": {"$secret://vault/1/jack/key"}},
			status: 401, body: `{"message":"Invalid API key in request"}` + "\n", www: wwwKey, hasHdr: true},
		{name: "key-auth-anonymous-consumer.t: fallback on missing key", conf: `{"anonymous_consumer":"anonymous"}`,
			consumer: "anonymous", upstream: map[string]string{"X-Consumer-Username": "anonymous"}},
		{name: "key-auth-anonymous-consumer.t: fallback on invalid key, hide removes both", conf: `{"anonymous_consumer":"anonymous","hide_credentials":true}`,
			header: http.Header{"Apikey": {"bad"}}, query: map[string]string{"apikey": "bad"}, consumer: "anonymous"},
		{name: "key-auth-anonymous-consumer.t: anonymous consumer by name of a credential owner", conf: `{"anonymous_consumer":"rose"}`,
			consumer: "rose", upstream: map[string]string{"X-Credential-Identifier": ""}},
		{name: "key-auth-anonymous-consumer.t: unknown anonymous consumer", conf: `{"anonymous_consumer":"ghost"}`,
			status: 401, body: `{"message":"Invalid user authorization"}` + "\n", www: wwwKey},
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
			for k, vs := range tt.header {
				c.ReqHeader[k] = vs
			}
			for k, v := range tt.query {
				c.Query.Set(k, v)
			}
			inst.(*KeyAuth).Rewrite(c)
			if c.ExitStatus != tt.status || string(c.ExitBody) != tt.body {
				t.Fatalf("exit = %d %q, want %d %q", c.ExitStatus, c.ExitBody, tt.status, tt.body)
			}
			if got := c.RespHdr.Get("WWW-Authenticate"); got != tt.www {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.www)
			}
			gotConsumer := ""
			if c.ConsumerV != nil {
				gotConsumer = c.ConsumerV.Username
			}
			if gotConsumer != tt.consumer {
				t.Errorf("consumer = %q, want %q", gotConsumer, tt.consumer)
			}
			for h, want := range tt.upstream {
				if got := c.ReqHeader.Get(h); got != want {
					t.Errorf("upstream %s = %q, want %q", h, got, want)
				}
			}
			name := "apikey"
			if tt.conf == `{"header":"Authorization","realm":"my realm"}` {
				name = "Authorization"
			}
			if _, ok := c.ReqHeader[http.CanonicalHeaderKey(name)]; ok != tt.hasHdr && tt.header != nil {
				t.Errorf("header still sent = %v, want %v", ok, tt.hasHdr)
			}
			if _, ok := c.Query["apikey"]; ok != tt.hasArg && tt.query != nil {
				t.Errorf("arg still sent = %v, want %v", ok, tt.hasArg)
			}
		})
	}
}

func TestDefaultsAndOKBody(t *testing.T) {
	inst, err := New(nil, plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	k := inst.(*KeyAuth)
	if k.header != "apikey" || k.query != "apikey" || k.wwwAuth != `apikey realm="key"` || k.hide || k.anonymous != "" {
		t.Fatalf("defaults not applied: %+v", k)
	}
	// No consumer carries key-auth at all: the lookup fails closed.
	c := plugintest.New()
	c.ReqHeader.Set("apikey", "auth-one")
	k.Rewrite(c)
	if c.ExitStatus != 401 || string(c.ExitBody) != `{"message":"Invalid API key in request"}`+"\n" {
		t.Fatalf("exit = %d %q", c.ExitStatus, c.ExitBody)
	}
}

func TestRewriteAllocs(t *testing.T) {
	ix := testIndex(t)
	inst, _ := New(json.RawMessage(`{}`), plugin.Env{})
	k := inst.(*KeyAuth)
	c := plugintest.New()
	c.Index = ix
	c.ReqHeader.Set("apikey", "zzz")
	// The in-memory Ctx allocates itself (header lookups copy); the plugin must add nothing.
	base := testing.AllocsPerRun(100, func() {
		c.Header("apikey")
		c.SetRespHeader("WWW-Authenticate", k.wwwAuth)
		c.Exit(401, bodyInvalidKey)
	})
	got := testing.AllocsPerRun(100, func() { k.Rewrite(c) })
	if got > base {
		t.Errorf("Rewrite allocs = %v, Ctx baseline %v", got, base)
	}
}
