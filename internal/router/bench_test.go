package router

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
)

// fixedVars answers every variable with one value, without allocating.
type fixedVars struct{ val []byte }

func (f *fixedVars) Lookup(*plugin.Var) ([]byte, bool) { return f.val, true }

type benchKind struct {
	name  string
	mode  Mode
	route func(i int) Route
	req   func(i int) *Request
}

var benchVarsExpr = expr.MustCompile([]any{[]any{"http_x_env", "==", "prod"}, []any{"arg_v", "~~", "^[a-z]+$"}})

var benchKinds = []benchKind{
	{"exact", HostURI,
		func(i int) Route {
			return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/api/v1/svc%d/items", i)}}
		},
		func(i int) *Request { return benchReq(fmt.Sprintf("/api/v1/svc%d/items", i), "") }},
	{"prefix", HostURI,
		func(i int) Route { return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/api/v1/svc%d/*", i)}} },
		func(i int) *Request { return benchReq(fmt.Sprintf("/api/v1/svc%d/items/42", i), "") }},
	{"host+prefix", HostURI,
		func(i int) Route {
			return Route{ID: fmt.Sprint(i), URIs: []string{"/api/*"}, Hosts: []string{fmt.Sprintf("svc%d.example.com", i)}}
		},
		func(i int) *Request { return benchReq("/api/items/42", fmt.Sprintf("svc%d.example.com", i)) }},
	{"wildcard-host+prefix", HostURI,
		func(i int) Route {
			return Route{ID: fmt.Sprint(i), URIs: []string{"/api/*"}, Hosts: []string{fmt.Sprintf("*.svc%d.example.com", i)}}
		},
		func(i int) *Request { return benchReq("/api/items/42", fmt.Sprintf("a.svc%d.example.com", i)) }},
	{"prefix+methods+vars", URI,
		func(i int) Route {
			return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/api/v1/svc%d/*", i)}, Methods: []string{"GET", "POST"}, Vars: benchVarsExpr}
		},
		func(i int) *Request { return benchReq(fmt.Sprintf("/api/v1/svc%d/items/42", i), "") }},
	{"param", URIWithParameter,
		func(i int) Route {
			return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/api/v1/svc%d/:id/*rest", i)}}
		},
		func(i int) *Request { return benchReq(fmt.Sprintf("/api/v1/svc%d/42/a/b", i), "") }},
}

func benchReq(path, host string) *Request {
	return &Request{
		Path: []byte(path), Host: []byte(host), Method: []byte("GET"),
		RemoteAddr: netip.MustParseAddr("10.0.0.1"),
		Vars:       &fixedVars{val: []byte("prod")},
	}
}

func benchRouter(k benchKind, n int) *Router {
	routes := make([]Route, n)
	for i := range routes {
		routes[i] = k.route(i)
	}
	r, errs := Build(routes, Options{Mode: k.mode})
	if len(errs) > 0 {
		panic(fmt.Sprint(errs))
	}
	return r
}

func BenchmarkMatch(b *testing.B) {
	for _, k := range benchKinds {
		for _, n := range []int{1, 1000, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) {
				r := benchRouter(k, n)
				q := k.req(n / 2)
				want := fmt.Sprint(n / 2)
				ps := &Params{}
				if got := r.Match(q, ps); got == nil || got.ID != want {
					b.Fatalf("Match = %v, want route %s", got, want)
				}
				b.ReportAllocs()
				for b.Loop() {
					ps.Reset()
					r.Match(q, ps)
				}
			})
		}
	}
}

func BenchmarkBuild10k(b *testing.B) {
	for _, k := range benchKinds {
		b.Run(k.name, func(b *testing.B) {
			routes := make([]Route, 10000)
			for i := range routes {
				routes[i] = k.route(i)
			}
			b.ReportAllocs()
			for b.Loop() {
				Build(routes, Options{Mode: k.mode})
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, k := range benchKinds {
		r := benchRouter(k, 100)
		q := k.req(50)
		ps := &Params{}
		r.Match(q, ps)
		if n := testing.AllocsPerRun(50, func() { ps.Reset(); r.Match(q, ps) }); n != 0 {
			t.Errorf("%s: Match allocates %v times", k.name, n)
		}
		miss := benchReq("/nothing/here", "nohost.example.org")
		if n := testing.AllocsPerRun(50, func() { ps.Reset(); r.Match(miss, ps) }); n != 0 {
			t.Errorf("%s: a miss allocates %v times", k.name, n)
		}
	}
}
