package proxyrewrite

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) *ProxyRewrite {
	t.Helper()
	d, ok := plugin.Lookup("proxy-rewrite")
	if !ok {
		t.Fatal("not registered")
	}
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst.(*ProxyRewrite)
}

func TestRewriteURI(t *testing.T) {
	for _, tc := range []struct {
		name, conf, path, query string
		want                    string // RequestURI after the phase
	}{
		{"proxy-rewrite.t: uri replaces path, query kept", `{"uri":"/plugin_proxy_rewrite"}`, "/hello", "a=1", "/plugin_proxy_rewrite?a=1"},
		{"uri with $var", `{"uri":"/$arg_name/x"}`, "/hello", "name=jack", "/jack/x?name=jack"},
		{"uri template query: original args appended with &", `{"uri":"/x?k=v"}`, "/hello", "a=1", "/x?a=1&k=v"},
		{"substituted ? escaped to %3F, then the path re-encoded (as APISIX: %253F)", `{"uri":"/$arg_q"}`, "/hello", "q=a?b", "/a%253Fb?q=a%3Fb"},
		{"regex_uri with captures", `{"regex_uri":["^/test/(.*)/(.*)/(.*)","/$1_$2_$3"]}`, "/test/plugin/proxy/rewrite", "", "/plugin_proxy_rewrite"},
		{"regex_uri no match keeps path", `{"regex_uri":["^/api/(.*)","/$1"]}`, "/hello", "", "/hello"},
		{"regex_uri pairs: second matches", `{"regex_uri":["^/api/(.*)","/$1","^/h(.*)","/H$1"]}`, "/hello", "", "/Hello"},
		{"path re-encoded (NGX_ESCAPE_URI)", `{"method":"POST"}`, "/a b", "", "/a%20b"},
		{"static uri: escaped once when compiled, query kept", `{"uri":"/a b#c","headers":{"set":{"X-A":"v"}}}`, "/hello", "x=1", "/a%20b%23c?x=1"},
		{"static uri with query", `{"uri":"/a b?k=v"}`, "/hello", "x=1", "/a%20b?k=v&x=1"},
		{"host only: path re-encoded, query kept", `{"host":"example.com"}`, "/a#b", "x=1", "/a%23b?x=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf)
			c := plugintest.New()
			c.Path = tc.path
			c.Query, _ = url.ParseQuery(tc.query)
			p.Rewrite(c)
			if got := string(c.RequestURI()); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRewriteHostMethodHeaders(t *testing.T) {
	p := compile(t, `{"host":"test.com","method":"POST","regex_uri":["^/api/(v\\d)/(.*)","/$2"],
		"headers":{"add":{"X-Add":["a","$1"]},"set":{"X-Api-Version":"$1","X-Num":10,"X-Route":"${route_id ?? none}"},"remove":["X-Drop"]}}`)
	c := plugintest.New()
	c.Path = "/api/v2/users"
	c.ReqHeader.Set("X-Drop", "1")
	c.ReqHeader.Set("X-Api-Version", "old")
	p.Rewrite(c)
	if c.UpstreamHdr != "test.com" || c.MethodV != "POST" || c.Path != "/users" {
		t.Fatalf("host %q method %q path %q", c.UpstreamHdr, c.MethodV, c.Path)
	}
	for name, want := range map[string]string{"X-Add": "a,v2", "X-Api-Version": "v2", "X-Num": "10", "X-Route": "none", "X-Drop": ""} {
		if got := strings.Join(c.ReqHeader.Values(name), ","); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

func TestLegacyHeaders(t *testing.T) {
	p := compile(t, `{"headers":{"X-Set":"$uri","X-Static":"v"}}`)
	c := plugintest.New()
	c.Path = "/p"
	c.ReqHeader.Set("X-Set", "old")
	p.Rewrite(c)
	if c.ReqHeader.Get("X-Set") != "/p" || c.ReqHeader.Get("X-Static") != "v" {
		t.Fatalf("headers %v", c.ReqHeader)
	}
}

func TestUnsafeRealRequestURI(t *testing.T) {
	p := compile(t, `{"use_real_request_uri_unsafe":true,"uri":"/new"}`)
	c := plugintest.New()
	c.Path = "/old"
	c.Query.Set("a", "1")
	p.Rewrite(c)
	if got := string(c.RequestURI()); got != "/new?a=1" {
		t.Fatalf("got %q", got)
	}
}

// Write errors from proxy-rewrite's check_schema (plugins.md §5).
func TestNewErrors(t *testing.T) {
	d, _ := plugin.Lookup("proxy-rewrite")
	for conf, want := range map[string]string{
		`{"regex_uri":["a","b","c"]}`:   "The length of regex_uri should be an even number",
		`{"regex_uri":["(?<=a)b","x"]}`: "invalid regex_uri((?<=a)b, x): ",
		`{"regex_uri":["a","$x"]}`:      "invalid regex_uri(a, $x): ",
		`{"headers":{"X Bad":"v"}}`:     "invalid field character in header",
		`{"headers":{"X-A":"v\u0001"}}`: "invalid value character in header",
	} {
		_, err := d.New(json.RawMessage(conf), plugin.Env{})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want prefix %q", conf, err, want)
		}
	}
}

func BenchmarkRewriteStatic(b *testing.B) {
	d, _ := plugin.Lookup("proxy-rewrite")
	inst, _ := d.New(json.RawMessage(`{"uri":"/x","headers":{"set":{"X-A":"v"}}}`), plugin.Env{})
	p := inst.(*ProxyRewrite)
	c := plugintest.New()
	b.ReportAllocs()
	for b.Loop() {
		p.Rewrite(c)
	}
}
