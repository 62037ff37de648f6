package router

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
)

// r is a compact route for the tables: uris are space-separated.
type r struct {
	id, uris, hosts, methods, addrs, vars string
	prio                                  int
}

// req is one request and the route id it must reach ("" = no route).
type req struct {
	method, host, path, addr string
	vars                     vars
	want                     string
	params                   string // "name=value,..." expected captures, when set
}

// vars resolves plugin.Vars by APISIX name from a map.
type vars map[string]string

func (m vars) Lookup(v *plugin.Var) ([]byte, bool) {
	for name, val := range m {
		if plugin.ParseVar(name) == *v {
			return []byte(val), true
		}
	}
	return nil, false
}

func fields(s string) []string { return strings.Fields(s) }

func build(t testing.TB, mode Mode, routes []r) *Router {
	t.Helper()
	table := make([]Route, len(routes))
	for i, x := range routes {
		rt := Route{ID: x.id, URIs: fields(x.uris), Hosts: fields(x.hosts), Methods: fields(x.methods), Priority: x.prio, Value: x.id}
		for _, a := range fields(x.addrs) {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				p = netip.PrefixFrom(netip.MustParseAddr(a), netip.MustParseAddr(a).BitLen())
			}
			rt.RemoteAddrs = append(rt.RemoteAddrs, p)
		}
		if x.vars != "" {
			var rule any
			if err := json.Unmarshal([]byte(x.vars), &rule); err != nil {
				t.Fatalf("route %s vars: %v", x.id, err)
			}
			rt.Vars = expr.MustCompile(rule)
		}
		table[i] = rt
	}
	rtr, errs := Build(table, Options{Mode: mode})
	if len(errs) > 0 {
		t.Fatalf("Build: %v", errs)
	}
	return rtr
}

func (q req) request() *Request {
	m := q.method
	if m == "" {
		m = "GET"
	}
	rq := &Request{Path: []byte(q.path), Host: []byte(q.host), Method: []byte(m), Vars: q.vars}
	if q.addr != "" {
		rq.RemoteAddr = netip.MustParseAddr(q.addr)
	} else {
		rq.RemoteAddr = netip.MustParseAddr("127.0.0.1")
	}
	return rq
}

func TestMatch(t *testing.T) {
	cases := []struct {
		name   string
		mode   Mode
		routes []r
		reqs   []req
	}{
		{
			name:   "radixtree-uri-sanity.t: exact uri",
			mode:   URI,
			routes: []r{{id: "1", uris: "/hello"}},
			reqs: []req{
				{path: "/hello", want: "1"},
				{path: "/hello/", want: ""},
				{path: "/hell", want: ""},
				{path: "/hello2", want: ""},
			},
		},
		{
			name:   "radixtree-uri-sanity.t: prefix /hello* and /hello/*",
			mode:   URI,
			routes: []r{{id: "star", uris: "/hello*"}, {id: "slash", uris: "/a/*"}},
			reqs: []req{
				{path: "/hello", want: "star"},
				{path: "/hello/world", want: "star"},
				{path: "/helloworld", want: "star"},
				{path: "/hell", want: ""},
				{path: "/a/", want: "slash"},
				{path: "/a/b/c", want: "slash"},
				{path: "/a", want: ""}, // `/a/*` is prefix "/a/": not "/a"
			},
		},
		{
			name:   "reference §3: /blog/bar* matches /blog/bar",
			mode:   HostURI,
			routes: []r{{id: "1", uris: "/blog/bar*"}},
			reqs:   []req{{path: "/blog/bar", want: "1"}, {path: "/blog/barn", want: "1"}, {path: "/blog/ba", want: ""}},
		},
		{
			name:   "radixtree-uri-sanity.t: /* matches everything",
			mode:   URI,
			routes: []r{{id: "all", uris: "/*"}, {id: "x", uris: "/x"}},
			reqs:   []req{{path: "/", want: "all"}, {path: "/x", want: "x"}, {path: "/x/y", want: "all"}},
		},
		{
			name: "reference §3: exact beats prefix whatever the priority",
			mode: URI,
			routes: []r{
				{id: "prefix", uris: "/a*", prio: 100},
				{id: "exact", uris: "/a"},
			},
			reqs: []req{{path: "/a", want: "exact"}, {path: "/ab", want: "prefix"}},
		},
		{
			name: "reference §3: longer prefix beats shorter whatever the priority",
			mode: URI,
			routes: []r{
				{id: "foo", uris: "/blog/foo/*", prio: 10},
				{id: "foo-a", uris: "/blog/foo/a/*"},
			},
			reqs: []req{
				{path: "/blog/foo/a/b/c", want: "foo-a"},
				{path: "/blog/foo/b", want: "foo"},
				{path: "/blog/foo/a/", want: "foo-a"},
			},
		},
		{
			name: "reference §3: a failed filter falls through (GET-only exact → POST reaches /a*)",
			mode: URI,
			routes: []r{
				{id: "exact-get", uris: "/a", methods: "GET"},
				{id: "prefix", uris: "/a*"},
			},
			reqs: []req{
				{method: "GET", path: "/a", want: "exact-get"},
				{method: "POST", path: "/a", want: "prefix"},
			},
		},
		{
			name: "radixtree-uri-priority.t: same uri, higher priority first",
			mode: URI,
			routes: []r{
				{id: "p1", uris: "/server_port*", prio: 1},
				{id: "p2", uris: "/server_port*", prio: 2},
			},
			reqs: []req{{path: "/server_port", want: "p2"}},
		},
		{
			name: "radixtree-host-uri-priority.t TEST 1-4: priority inside a host",
			mode: HostURI,
			routes: []r{
				{id: "default", uris: "/server_port", hosts: "test.com"},
				{id: "p1", uris: "/server_port", hosts: "test.com", prio: 1},
				{id: "p2", uris: "/server_port", hosts: "other.com", prio: 2},
			},
			reqs: []req{{host: "test.com", path: "/server_port", want: "p1"}, {host: "other.com", path: "/server_port", want: "p2"}},
		},
		{
			name: "radixtree sort_route: equal priority → longer uri first, then Build order",
			mode: URIWithParameter,
			routes: []r{
				{id: "short", uris: "/a/*"},
				{id: "long", uris: "/a/:id/b"},
				{id: "first", uris: "/x/*"},
				{id: "second", uris: "/x/*"},
			},
			reqs: []req{
				{path: "/a/1/b", want: "long"},
				{path: "/a/1/c", want: "short"},
				{path: "/x/y", want: "first"},
			},
		},
		{
			name: "Build order breaks ties between exact routes",
			mode: URI,
			routes: []r{
				{id: "first", uris: "/same"},
				{id: "second", uris: "/same"},
				{id: "third", uris: "/same", methods: "POST"},
			},
			reqs: []req{{path: "/same", want: "first"}, {method: "POST", path: "/same", want: "first"}},
		},
		{
			name:   "radixtree-uri-multiple.t: uris",
			mode:   URI,
			routes: []r{{id: "m", uris: "/hello /world* /p/*"}},
			reqs: []req{
				{path: "/hello", want: "m"},
				{path: "/world", want: "m"},
				{path: "/worlds/x", want: "m"},
				{path: "/p/1", want: "m"},
				{path: "/hello/x", want: ""},
			},
		},
		{
			name:   "radixtree-method.t: methods",
			mode:   URI,
			routes: []r{{id: "get-put", uris: "/hello", methods: "GET PUT"}, {id: "purge", uris: "/purge", methods: "PURGE"}},
			reqs: []req{
				{method: "GET", path: "/hello", want: "get-put"},
				{method: "PUT", path: "/hello", want: "get-put"},
				{method: "POST", path: "/hello", want: ""},
				{method: "PROPFIND", path: "/hello", want: ""},
				{method: "PURGE", path: "/purge", want: "purge"},
			},
		},
		{
			name:   "lua-resty-radixtree t/remote.t: remote_addrs IPv4, CIDR, IPv6",
			mode:   URI,
			routes: []r{{id: "r", uris: "/aa", addrs: "127.0.0.1 192.168.0.0/16 ::1 fe80::/32"}},
			reqs: []req{
				{path: "/aa", addr: "127.0.0.1", want: "r"},
				{path: "/aa", addr: "192.168.12.3", want: "r"},
				{path: "/aa", addr: "::1", want: "r"},
				{path: "/aa", addr: "fe80::abcd", want: "r"},
				{path: "/aa", addr: "::ffff:192.168.1.1", want: "r"}, // v4-mapped is the v4 client
				{path: "/aa", addr: "127.0.0.2", want: ""},
				{path: "/aa", addr: "fe81::1", want: ""},
			},
		},
		{
			name: "radixtree-uri-vars.t: vars filter and fall through",
			mode: URI,
			routes: []r{
				{id: "k-header", uris: "/hello", vars: `[["http_k","==","header"]]`},
				{id: "k-arg", uris: "/hello", vars: `[["arg_k","==","uri_arg"]]`},
				{id: "cookie", uris: "/hello*", vars: `[["cookie_k","==","cookie"]]`},
			},
			reqs: []req{
				{path: "/hello", vars: vars{"http_k": "header"}, want: "k-header"},
				{path: "/hello", vars: vars{"arg_k": "uri_arg"}, want: "k-arg"},
				{path: "/hello", vars: vars{"cookie_k": "cookie"}, want: "cookie"},
				{path: "/hello", vars: vars{"http_k": "other"}, want: ""},
				{path: "/hello", want: ""},
			},
		},
		{
			name: "radixtree-host-uri.t: hosts, exact before wildcard, host-less last",
			mode: HostURI,
			routes: []r{
				{id: "none", uris: "/server_port", prio: 100},
				{id: "wild", uris: "/server_port", hosts: "*.foo.com"},
				{id: "exact", uris: "/server_port", hosts: "a.foo.com"},
				{id: "any", uris: "/server_port", hosts: "*"},
			},
			reqs: []req{
				{host: "a.foo.com", path: "/server_port", want: "exact"},
				{host: "b.foo.com", path: "/server_port", want: "wild"},
				{host: "a.b.foo.com", path: "/server_port", want: "wild"},
				{host: "foo.com", path: "/server_port", want: "any"},
				{host: "bar.com", path: "/server_port", want: "any"},
			},
		},
		{
			name: "radixtree-host-uri2.t: longest wildcard suffix first",
			mode: HostURI,
			routes: []r{
				{id: "short", uris: "/x", hosts: "*.com"},
				{id: "long", uris: "/x", hosts: "*.foo.com"},
			},
			reqs: []req{
				{host: "a.foo.com", path: "/x", want: "long"},
				{host: "a.bar.com", path: "/x", want: "short"},
				{host: "com", path: "/x", want: ""},
			},
		},
		{
			name: "reference §3: host route beats host-less whatever the priority; falls back when its uri misses",
			mode: HostURI,
			routes: []r{
				{id: "none", uris: "/a*", prio: 100},
				{id: "host", uris: "/a*", hosts: "foo.com"},
				{id: "host-post", uris: "/b", hosts: "foo.com", methods: "POST"},
				{id: "none-b", uris: "/b"},
			},
			reqs: []req{
				{host: "foo.com", path: "/abc", want: "host"},
				{host: "bar.com", path: "/abc", want: "none"},
				{host: "foo.com", path: "/b", want: "none-b"},
				{host: "foo.com", method: "POST", path: "/b", want: "host-post"},
				{host: "foo.com", path: "/zzz", want: ""},
			},
		},
		{
			name: "host route whose vars fail falls back to the next host pattern, then host-less",
			mode: HostURI,
			routes: []r{
				{id: "exact-v", uris: "/x", hosts: "a.foo.com", vars: `[["arg_v","==","1"]]`},
				{id: "wild", uris: "/x", hosts: "*.foo.com", vars: `[["arg_w","==","1"]]`},
				{id: "plain", uris: "/x"},
			},
			reqs: []req{
				{host: "a.foo.com", path: "/x", vars: vars{"arg_v": "1"}, want: "exact-v"},
				{host: "a.foo.com", path: "/x", vars: vars{"arg_w": "1"}, want: "wild"},
				{host: "a.foo.com", path: "/x", want: "plain"},
			},
		},
		{
			name: "hosts compare case-insensitively",
			mode: HostURI,
			routes: []r{
				{id: "exact", uris: "/x", hosts: "Foo.COM"},
				{id: "wild", uris: "/x", hosts: "*.Bar.com"},
			},
			reqs: []req{
				{host: "foo.com", path: "/x", want: "exact"},
				{host: "FOO.com", path: "/x", want: "exact"},
				{host: "a.BAR.com", path: "/x", want: "wild"},
			},
		},
		{
			name: "radixtree-uri-host.t: in uri mode hosts are a filter on the uri order",
			mode: URI,
			routes: []r{
				{id: "host", uris: "/server_port", hosts: "foo.com"},
				{id: "wild", uris: "/server_port", hosts: "*.foo.com"},
				{id: "none", uris: "/server_port"},
				{id: "pfx-host", uris: "/p/*", hosts: "foo.com", prio: -1},
				{id: "pfx-none", uris: "/p/*"},
			},
			reqs: []req{
				{host: "foo.com", path: "/server_port", want: "host"},
				{host: "x.foo.com", path: "/server_port", want: "wild"},
				{host: "bar.com", path: "/server_port", want: "none"},
				{host: "foo.com", path: "/p/1", want: "pfx-none"}, // priority decides, not the host
			},
		},
		{
			name: "reference §3: :param is literal in radixtree_uri",
			mode: URI,
			routes: []r{
				{id: "colon", uris: "/name/:name"},
			},
			reqs: []req{{path: "/name/:name", want: "colon"}, {path: "/name/json", want: ""}},
		},
		{
			name: "reference §3: :param is literal in radixtree_host_uri",
			mode: HostURI,
			routes: []r{
				{id: "colon", uris: "/name/:name", hosts: "foo.com"},
			},
			reqs: []req{{host: "foo.com", path: "/name/:name", want: "colon"}, {host: "foo.com", path: "/name/json", want: ""}},
		},
		{
			name: "radixtree-uri-with-parameter.t: :name segments",
			mode: URIWithParameter,
			routes: []r{
				{id: "name", uris: "/name/:name/bar"},
				{id: "id", uris: "/user/:id"},
			},
			reqs: []req{
				{path: "/name/json/bar", want: "name", params: "name=json"},
				{path: "/name/json", want: ""},
				{path: "/name//bar", want: ""},
				{path: "/name/json/bar/x", want: ""},
				{path: "/user/7", want: "id", params: "id=7"},
				{path: "/user/7/", want: ""},
				{path: "/user/", want: ""},
			},
		},
		{
			name: "lua-resty-radixtree t/parameter.t: /name/:name/id/:id/*other",
			mode: URIWithParameter,
			routes: []r{
				{id: "deep", uris: "/name/:name/id/:id/*other"},
				{id: "two", uris: "/name/:name/id/:id"},
				{id: "lead", uris: "/:name/foo"},
			},
			reqs: []req{
				{path: "/name/json/id/1/foo/bar/gloo", want: "deep", params: "name=json,id=1,other=foo/bar/gloo"},
				{path: "/name/json/id/1", want: "two", params: "name=json,id=1"},
				{path: "/name/json/id/", want: ""},
				{path: "/json/foo", want: "lead", params: "name=json"},
				{path: "/json/bar", want: ""},
				{path: "/json/foo/bar", want: ""},
			},
		},
		{
			name: "lua-resty-radixtree t/parameter.t TEST 1-2: /name/*name captures the tail, also empty",
			mode: URI,
			routes: []r{
				{id: "tail", uris: "/name/*name"},
				{id: "bare", uris: "/other/*"},
			},
			reqs: []req{
				{path: "/name/json", want: "tail", params: "name=json"},
				{path: "/name/", want: "tail", params: "name="},
				{path: "/name/a/b", want: "tail", params: "name=a/b"},
				{path: "/name", want: ""},
				{path: "/other/x/y", want: "bare", params: "-"},
			},
		},
		{
			name: "reference §3: named tail wildcard in host_uri mode",
			mode: HostURI,
			routes: []r{
				{id: "files", uris: "/files/*path", hosts: "foo.com"},
			},
			reqs: []req{{host: "foo.com", path: "/files/a/b.txt", want: "files", params: "path=a/b.txt"}},
		},
		{
			name: "wildcard in the middle is greedy (PCRE ((.|\\n)*))",
			mode: URIWithParameter,
			routes: []r{
				{id: "mid", uris: "/a/*x/end"},
			},
			reqs: []req{
				{path: "/a/1/2/end", want: "mid", params: "x=1/2"},
				{path: "/a/end/end", want: "mid", params: "x=end"},
				{path: "/a/1/2/nope", want: ""},
			},
		},
		{
			name: "radixtree ignores a pattern that names nothing: /a*b is prefix /a",
			mode: URI,
			routes: []r{
				{id: "ab", uris: "/a*b"},
			},
			reqs: []req{{path: "/axyz", want: "ab"}, {path: "/a", want: "ab"}},
		},
		{
			name: "a failed param pattern falls through to the next bucket",
			mode: URIWithParameter,
			routes: []r{
				{id: "param", uris: "/u/:id/x"},
				{id: "root", uris: "/*"},
			},
			reqs: []req{
				{path: "/u/1/x", want: "param", params: "id=1"},
				{path: "/u/1/y", want: "root", params: "-"},
			},
		},
		{
			name: "vars read uri_param_* of the candidate",
			mode: URIWithParameter,
			routes: []r{
				{id: "admin", uris: "/user/:name", vars: `[["uri_param_name","==","admin"]]`},
				{id: "user", uris: "/user/:name"},
			},
			reqs: []req{
				{path: "/user/admin", want: "admin", params: "name=admin"},
				{path: "/user/bob", want: "user", params: "name=bob"},
			},
		},
		{
			name: "t/node/route-host.t: route without uri match gives nothing",
			mode: HostURI,
			routes: []r{
				{id: "h", uris: "/hello", hosts: "foo.com"},
			},
			reqs: []req{{host: "foo.com", path: "/hello", want: "h"}, {host: "bar.com", path: "/hello", want: ""}, {path: "/hello", want: ""}},
		},
		{
			name: "wildcard host *foo.com (no dot) matches foo.com and barfoo.com",
			mode: HostURI,
			routes: []r{
				{id: "w", uris: "/x", hosts: "*foo.com"},
			},
			reqs: []req{{host: "foo.com", path: "/x", want: "w"}, {host: "barfoo.com", path: "/x", want: "w"}, {host: "foo.co", path: "/x", want: ""}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rtr := build(t, tc.mode, tc.routes)
			var ps Params
			for _, q := range tc.reqs {
				ps.Reset()
				got := rtr.Match(q.request(), &ps)
				id := ""
				if got != nil {
					id = got.ID
				}
				if id != q.want {
					t.Errorf("%s %s (host %q, vars %v): got route %q, want %q", q.method, q.path, q.host, q.vars, id, q.want)
					continue
				}
				if want := strings.TrimPrefix(q.params, "-"); q.params != "" && paramString(&ps) != want {
					t.Errorf("%s: params %q, want %q", q.path, paramString(&ps), want)
				}
				// the same request without a Params must pick the same route
				if got2 := rtr.Match(q.request(), nil); got2 != got {
					t.Errorf("%s: Match with nil params = %v, want %v", q.path, got2, got)
				}
			}
		})
	}
}

func paramString(p *Params) string {
	var b strings.Builder
	for i, n := range p.Names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + string(p.Values[i]))
	}
	return b.String()
}

func TestBuildErrors(t *testing.T) {
	rtr, errs := Build([]Route{
		{ID: "bad-method", URIs: []string{"/a"}, Methods: []string{"FETCH"}},
		{ID: "no-uri"},
		{ID: "ok", URIs: []string{"/a"}},
	}, Options{})
	if len(errs) != 2 || errs["bad-method"] == nil || errs["no-uri"] == nil {
		t.Fatalf("errs = %v, want bad-method and no-uri", errs)
	}
	if got := rtr.Match(&Request{Path: []byte("/a"), Method: []byte("GET")}, nil); got == nil || got.ID != "ok" {
		t.Fatalf("Match = %v, want ok", got)
	}
}

func TestParamsGetAndVars(t *testing.T) {
	p := &Params{}
	p.add("id", []byte("1"))
	p.add("id", []byte("2"))
	if v, ok := p.Get("id"); !ok || string(v) != "2" {
		t.Fatalf("Get(id) = %q, %v; want the last capture", v, ok)
	}
	if _, ok := p.Get("x"); ok {
		t.Fatal("Get(x) found a capture that is not there")
	}
	vs := p.Vars(vars{"arg_a": "b"})
	if v, ok := vs.Lookup(&plugin.Var{Kind: plugin.VarURIParam, Name: "id"}); !ok || string(v) != "2" {
		t.Fatalf("uri_param_id = %q, %v", v, ok)
	}
	if v, ok := vs.Lookup(&plugin.Var{Kind: plugin.VarArg, Name: "a"}); !ok || string(v) != "b" {
		t.Fatalf("arg_a = %q, %v", v, ok)
	}
	p.Reset()
	if len(p.Names) != 0 || len(p.Values) != 0 {
		t.Fatal("Reset left captures")
	}
}

func TestTreePrefixes(t *testing.T) {
	var tr tree[string]
	for _, k := range []string{"/a/", "/a/b", "/", "/ab", "/a/bc/d", ""} {
		n := tr.node(k)
		n.has, n.val = true, k
	}
	cases := []struct{ key, want string }{
		{"/a/bc/d/e", ",/,/a/,/a/b,/a/bc/d"},
		{"/ab", ",/,/ab"},
		{"/a", ",/"},
		{"x", ""},
	}
	for _, tc := range cases {
		var got []string
		for _, n := range tr.prefixes([]byte(tc.key), nil) {
			got = append(got, n.val)
		}
		if s := strings.Join(got, ","); s != tc.want {
			t.Errorf("prefixes(%q) = %q, want %q", tc.key, s, tc.want)
		}
	}
}
