package redirect

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		name, conf, method, scheme, xfp, path, query string
		status                                       int // 0: request continues
		location                                     string
	}{
		{"redirect.t: uri template, default 302", `{"uri":"/test/add"}`, "GET", "http", "", "/hello", "", 302, "/test/add"},
		{"redirect.t: $$uri keeps the lone $", `{"uri":"/foo$$uri","ret_code":301}`, "GET", "http", "", "/hello", "", 301, "/foo$/hello"},
		{"redirect.t: missing var is empty", `{"uri":"$uri/$bad_var/bar"}`, "GET", "http", "", "/hello", "", 302, "/hello//bar"},
		{"http_to_https GET → 301 with default ssl port 9443", `{"http_to_https":true}`, "GET", "http", "", "/hello", "a=1", 301, "https://localhost:9443/hello?a=1"},
		{"http_to_https POST → 308", `{"http_to_https":true,"ret_code":302}`, "POST", "http", "", "/hello", "", 308, "https://localhost:9443/hello"},
		{"http_to_https on https: nothing", `{"http_to_https":true}`, "GET", "https", "", "/hello", "", 0, ""},
		{"http_to_https honours X-Forwarded-Proto", `{"http_to_https":true}`, "GET", "http", "https", "/hello", "", 0, ""},
		{"regex_uri match", `{"regex_uri":["^/api/(.*)","/v2/$1"]}`, "GET", "http", "", "/api/users", "", 302, "/v2/users"},
		{"regex_uri no match: request continues", `{"regex_uri":["^/api/(.*)","/v2/$1"]}`, "GET", "http", "", "/hello", "", 0, ""},
		{"encode_uri escapes the path only", `{"uri":"/a b?x=a b","encode_uri":true}`, "GET", "http", "", "/hello", "", 302, "/a%20b?x=a b"},
		{"append_query_string with ?", `{"uri":"/x","append_query_string":true}`, "GET", "http", "", "/hello", "a=1", 302, "/x?a=1"},
		{"append_query_string with &", `{"uri":"/x?k=v","append_query_string":true}`, "GET", "http", "", "/hello", "a=1", 302, "/x?k=v&a=1"},
		{"append_query_string without query", `{"uri":"/x","append_query_string":true}`, "GET", "http", "", "/hello", "", 302, "/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := plugin.Lookup("redirect")
			inst, err := d.New(json.RawMessage(tc.conf), plugin.Env{})
			if err != nil {
				t.Fatal(err)
			}
			c := plugintest.New()
			c.MethodV, c.SchemeV, c.Path = tc.method, tc.scheme, tc.path
			c.Query, _ = url.ParseQuery(tc.query)
			if tc.xfp != "" {
				c.ReqHeader.Set("X-Forwarded-Proto", tc.xfp)
			}
			inst.(plugin.Rewriter).Rewrite(c)
			if !c.Exited() {
				if tc.status != 0 {
					t.Fatalf("not redirected, want %d", tc.status)
				}
				return
			}
			if c.ExitStatus != tc.status || c.ExitBody != nil || c.RespHdr.Get("Location") != tc.location {
				t.Fatalf("got %d %q body %q, want %d %q", c.ExitStatus, c.RespHdr.Get("Location"), c.ExitBody, tc.status, tc.location)
			}
		})
	}
}

// configNode is a plugin.Node answering Config from a map of paths.
type configNode struct {
	plugin.Node
	conf map[string]string
}

func (n configNode) Config(path string) json.RawMessage {
	if v, ok := n.conf[path]; ok {
		return json.RawMessage(v)
	}
	return nil
}

func TestHTTPSPort(t *testing.T) {
	d, _ := plugin.Lookup("redirect")
	ssl := `{"enable":true,"listen":[{"ip":"","port":8443},{"ip":"","port":9444}]}`
	for _, tc := range []struct {
		conf map[string]string
		want string
	}{
		{map[string]string{"plugin_attr.redirect": `{"https_port":443}`, "apisix.ssl": ssl}, "https://localhost/"},
		{map[string]string{"plugin_attr.redirect": `{"https_port":8444}`, "apisix.ssl": ssl}, "https://localhost:8444/"},
		{map[string]string{"apisix.ssl": ssl}, "https://localhost:8443/"}, // the first ssl listen port
		{map[string]string{"apisix.ssl": `{"enable":false,"listen":[{"port":8443}]}`}, "https://localhost/"},
	} {
		inst, _ := d.New(json.RawMessage(`{"http_to_https":true}`), plugin.Env{Node: configNode{conf: tc.conf}})
		c := plugintest.New()
		inst.(plugin.Rewriter).Rewrite(c)
		if got := c.RespHdr.Get("Location"); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.conf, got, tc.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	d, _ := plugin.Lookup("redirect")
	for conf, want := range map[string]string{
		`{"http_to_https":true,"append_query_string":true}`: "only one of `http_to_https` and `append_query_string` can be configured.",
		`{"regex_uri":["(?=a)","b"]}`:                       "invalid regex_uri ((?=a), b), err:",
	} {
		_, err := d.New(json.RawMessage(conf), plugin.Env{})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", conf, err, want)
		}
	}
}
