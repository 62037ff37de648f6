package cors

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

type corsInstance interface {
	plugin.Rewriter
	plugin.HeaderFilterer
}

func compile(t *testing.T, conf, metadata string) corsInstance {
	t.Helper()
	def, ok := plugin.Lookup("cors")
	if !ok || def.New == nil {
		t.Fatal("cors not registered with New")
	}
	env := plugin.Env{}
	if metadata != "" {
		env.Metadata = json.RawMessage(metadata)
	}
	inst, err := def.New(json.RawMessage(conf), env)
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst.(corsInstance)
}

// run plays rewrite then header_filter, as the runtime does.
func run(p corsInstance, method, origin string, req http.Header) *plugintest.Ctx {
	c := plugintest.New()
	c.MethodV = method
	for k, v := range req {
		c.ReqHeader[k] = v
	}
	if origin != "" {
		c.ReqHeader.Set("Origin", origin)
	}
	p.Rewrite(c)
	p.HeaderFilter(c)
	return c
}

func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Allow-Credentials", "Vary", "Timing-Allow-Origin"} {
		if v := h.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// defaults: what the default conf sends for an allowed origin.
func defaults(origin string) []string {
	return []string{"Access-Control-Allow-Origin", origin, "Access-Control-Allow-Methods", "*",
		"Access-Control-Allow-Headers", "*", "Access-Control-Max-Age", "5"}
}

func TestHeaderFilter(t *testing.T) {
	const strict = `{"allow_origins":"http://sub.domain.com,http://sub2.domain.com","allow_methods":"GET,POST",` +
		`"allow_headers":"headr1,headr2","expose_headers":"ex-headr1,ex-headr2","max_age":50,"allow_credential":true}`
	strictAllowed := hdr("Access-Control-Allow-Origin", "http://sub.domain.com",
		"Access-Control-Allow-Methods", "GET,POST", "Access-Control-Allow-Headers", "headr1,headr2",
		"Access-Control-Expose-Headers", "ex-headr1,ex-headr2", "Access-Control-Max-Age", "50",
		"Access-Control-Allow-Credentials", "true", "Vary", "Origin")
	tests := []struct {
		name     string
		conf     string
		metadata string
		origin   string // "": no Origin header
		req      http.Header
		want     http.Header
	}{
		{"cors.t: defaults, any origin", `{}`, "", "http://a.com", nil, hdr(defaults("*")...)},
		{"cors.t: defaults, no Origin still gets '*'", `{}`, "", "", nil, hdr(defaults("*")...)},
		{"cors.t: origin list hit, credentials", strict, "", "http://sub.domain.com", nil, strictAllowed},
		{"cors.t: origin list miss → only Vary", strict, "", "http://other.com", nil, hdr("Vary", "Origin")},
		{"origin list: no Origin → only Vary", strict, "", "", nil, hdr("Vary", "Origin")},
		{"cors.t: single origin hit", `{"allow_origins":"http://a.com"}`, "", "http://a.com", nil,
			hdr(append(defaults("http://a.com"), "Vary", "Origin")...)},
		{"cors.t: single origin miss", `{"allow_origins":"http://a.com"}`, "", "http://b.com", nil,
			hdr("Vary", "Origin")},
		{"cors.t: '**' echoes Origin, '**' methods, '**' headers",
			`{"allow_origins":"**","allow_methods":"**","allow_headers":"**"}`, "", "http://x.com",
			hdr("Access-Control-Request-Headers", "X-Foo, X-Bar"),
			hdr("Access-Control-Allow-Origin", "http://x.com",
				"Access-Control-Allow-Methods", "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE",
				"Access-Control-Allow-Headers", "X-Foo, X-Bar", "Access-Control-Max-Age", "5", "Vary", "Origin")},
		{"'**' without Origin → '*'; '**' headers without request headers → none",
			`{"allow_origins":"**","allow_headers":"**"}`, "", "", nil,
			hdr("Access-Control-Allow-Origin", "*", "Access-Control-Allow-Methods", "*",
				"Access-Control-Max-Age", "5", "Vary", "Origin")},
		{"cors.t: allow_origins_by_regex hit", `{"allow_origins_by_regex":[".*\\.test\\.com$"]}`, "",
			"http://a.test.com", nil, hdr(defaults("http://a.test.com")...)},
		{"cors.t: allow_origins_by_regex is the only local rule",
			`{"allow_origins_by_regex":["^http://a\\.com$"]}`, "", "http://b.com", nil, http.Header{}},
		{"allow_origins_by_regex: several rules joined with '|'",
			`{"allow_origins":"http://x.com","allow_origins_by_regex":["^http://a\\.com$","\\.b\\.com$"]}`, "",
			"http://z.b.com", nil, hdr(append(defaults("http://z.b.com"), "Vary", "Origin")...)},
		{"cors.t: metadata hit", `{"allow_origins_by_metadata":["company"]}`,
			`{"allow_origins":{"company":"https://domain.com,https://sub.domain.com"}}`,
			"https://sub.domain.com", nil, hdr(defaults("https://sub.domain.com")...)},
		{"plugins.md §4: metadata miss with default allow_origins → no headers",
			`{"allow_origins_by_metadata":["company"]}`,
			`{"allow_origins":{"company":"https://domain.com"}}`, "https://other.com", nil, http.Header{}},
		{"metadata miss falls back to a local allow_origins that is not '*'",
			`{"allow_origins":"https://other.com","allow_origins_by_metadata":["company"]}`,
			`{"allow_origins":{"company":"https://domain.com"}}`, "https://other.com", nil,
			hdr(append(defaults("https://other.com"), "Vary", "Origin")...)},
		{"metadata '*' entry answers with the Origin",
			`{"allow_origins_by_metadata":["all"]}`, `{"allow_origins":{"all":"*"}}`, "http://q.com", nil,
			hdr(defaults("http://q.com")...)},
		{"metadata key absent from metadata", `{"allow_origins_by_metadata":["nope"]}`,
			`{"allow_origins":{"company":"https://domain.com"}}`, "https://domain.com", nil, http.Header{}},
		{"no plugin_metadata at all", `{"allow_origins_by_metadata":["company"]}`, "",
			"https://domain.com", nil, http.Header{}},
		{"3.10: empty expose_headers not sent", `{"expose_headers":""}`, "", "http://a.com", nil,
			hdr(defaults("*")...)},
		{"cors.t: timing_allow_origins hit", `{"timing_allow_origins":"http://a.com,http://b.com"}`, "",
			"http://b.com", nil, hdr(append(defaults("*"), "Timing-Allow-Origin", "http://b.com")...)},
		{"cors.t: timing_allow_origins miss", `{"timing_allow_origins":"http://a.com"}`, "",
			"http://b.com", nil, hdr(defaults("*")...)},
		{"timing_allow_origins '*'", `{"timing_allow_origins":"*"}`, "", "http://b.com", nil,
			hdr(append(defaults("*"), "Timing-Allow-Origin", "*")...)},
		{"cors.t: timing_allow_origins_by_regex wins over timing_allow_origins",
			`{"timing_allow_origins":"http://a.com","timing_allow_origins_by_regex":["\\.test\\.com$"]}`, "",
			"http://x.test.com", nil, hdr(append(defaults("*"), "Timing-Allow-Origin", "http://x.test.com")...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf, tc.metadata)
			c := run(p, "GET", tc.origin, tc.req)
			if c.Exited() {
				t.Fatalf("GET exited %d", c.ExitStatus)
			}
			if got := corsHeaders(c.RespHdr); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("headers\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	tests := []struct {
		name, conf, origin string
		want               http.Header
	}{
		{"cors.t: OPTIONS answered 200, empty body, with headers", `{}`, "http://a.com", hdr(defaults("*")...)},
		{"plugins.md §4: every OPTIONS, even without Origin", `{}`, "", hdr(defaults("*")...)},
		{"OPTIONS from a denied origin: 200 without CORS headers", `{"allow_origins":"http://a.com"}`,
			"http://b.com", hdr("Vary", "Origin")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := run(compile(t, tc.conf, ""), "OPTIONS", tc.origin, nil)
			if !c.Exited() || c.ExitStatus != 200 || len(c.ExitBody) != 0 {
				t.Fatalf("got exited=%v %d %q, want 200 with empty body", c.Exited(), c.ExitStatus, c.ExitBody)
			}
			if got := corsHeaders(c.RespHdr); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("headers\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestHeadersReplaceUpstreamAndOriginalOrigin(t *testing.T) {
	p := compile(t, `{"allow_origins":"http://a.com,http://b.com"}`, "")
	c := plugintest.New()
	c.ReqHeader.Set("Origin", "http://a.com")
	p.Rewrite(c)
	c.ReqHeader.Set("Origin", "http://evil.com") // a later plugin rewrites the request header
	c.RespHdr.Set("Access-Control-Allow-Origin", "http://upstream.example")
	c.RespHdr.Set("Vary", "Accept-Encoding")
	p.HeaderFilter(c)
	if got := c.RespHdr.Get("Access-Control-Allow-Origin"); got != "http://a.com" {
		t.Fatalf("Allow-Origin = %q, want the Origin seen in rewrite", got)
	}
	if got := c.RespHdr.Values("Vary"); !reflect.DeepEqual(got, []string{"Accept-Encoding", "Origin"}) {
		t.Fatalf("Vary = %q, want Origin added", got)
	}
}

func TestHeaderFilterWithoutRewrite(t *testing.T) {
	// An earlier plugin exited in rewrite: APISIX's ctx.original_request_origin is nil.
	p := compile(t, `{"allow_origins":"**"}`, "")
	c := plugintest.New()
	c.ReqHeader.Set("Origin", "http://a.com")
	p.HeaderFilter(c)
	if got := c.RespHdr.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Fatalf("Allow-Origin = %q, want *", got)
	}
}

func TestNewErrors(t *testing.T) {
	const credErr = "you can not set '*' for other option when 'allow_credential' is true"
	for _, tc := range []struct{ conf, err string }{
		{`{"allow_credential":true}`, credErr},
		{`{"allow_credential":true,"allow_origins":"http://a.com","allow_methods":"GET","allow_headers":"x","expose_headers":"*"}`, credErr},
		{`{"allow_credential":true,"allow_origins":"http://a.com","allow_methods":"GET","allow_headers":"x","timing_allow_origins":"*"}`, credErr},
		{`{"allow_credential":true,"allow_origins":"**","allow_methods":"**","allow_headers":"**"}`, ""},
		{`{"allow_origins_by_regex":["(?<=a)b"]}`, `invalid regex "(?<=a)b": lookbehind "(?<=" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
	} {
		_, err := New(json.RawMessage(tc.conf), plugin.Env{})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("New(%s) = %q, want %q", tc.conf, got, tc.err)
		}
	}
}

// The Origin is kept from rewrite whatever its length, and a later change of the request
// header does not change what header_filter answers (ctx.original_request_origin).
func TestOriginKeptFromRewrite(t *testing.T) {
	long := "http://a-very-long-subdomain-name-for-the-origin-buffer.example.com:8443"
	for _, origin := range []string{"http://a.example", long} {
		p := compile(t, `{"allow_origins":"**"}`, "")
		c := plugintest.New()
		c.ReqHeader.Set("Origin", origin)
		p.Rewrite(c)
		c.ReqHeader.Set("Origin", "http://changed.example")
		p.HeaderFilter(c)
		if got := c.RespHdr.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("allow origin %q, want %q", got, origin)
		}
	}
	// the defaults answer "*" with or without an Origin, and never Vary
	for _, origin := range []string{"", "http://a.example"} {
		c := run(compile(t, `{}`, ""), "GET", origin, nil)
		if got := c.RespHdr.Get("Access-Control-Allow-Origin"); got != "*" || c.RespHdr.Get("Vary") != "" {
			t.Errorf("origin %q: allow origin %q, vary %q", origin, got, c.RespHdr.Get("Vary"))
		}
	}
}
