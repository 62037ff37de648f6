package router

import (
	"fmt"
	"testing"
)

// BenchmarkMatchSpread is bench/run.sh's case d in the router alone: 10k routes loaded,
// requests spread over 100 of them (so the lookups do not all hit one warm path), in every
// router mode; plus the 404 path (no route matches) and a mixed table of exact, prefix, host
// and parameter routes as real configurations have. allocs/op must be 0.
func BenchmarkMatchSpread(b *testing.B) {
	const routes, requested = 10000, 100
	caseD := func(i int) Route { return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/bench/d/%d", i)}} }
	mixed := func(i int) Route {
		switch i % 4 {
		case 0:
			return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/api/v1/svc%d/items", i)}}
		case 1:
			return Route{ID: fmt.Sprint(i), URIs: []string{fmt.Sprintf("/api/v1/svc%d/*", i)}, Methods: []string{"GET", "POST"}}
		case 2:
			return Route{ID: fmt.Sprint(i), URIs: []string{"/api/*"}, Hosts: []string{fmt.Sprintf("svc%d.example.com", i)}}
		default:
			return Route{ID: fmt.Sprint(i), URIs: []string{"/api/*"}, Hosts: []string{fmt.Sprintf("*.svc%d.example.com", i)}}
		}
	}
	mixedReq := func(i int) *Request {
		switch i % 4 {
		case 0:
			return benchReq(fmt.Sprintf("/api/v1/svc%d/items", i), "gw.example.com")
		case 1:
			return benchReq(fmt.Sprintf("/api/v1/svc%d/items/42", i), "gw.example.com")
		case 2:
			return benchReq("/api/items/42", fmt.Sprintf("svc%d.example.com", i))
		default:
			return benchReq("/api/items/42", fmt.Sprintf("a.svc%d.example.com", i))
		}
	}
	for _, tc := range []struct {
		name  string
		mode  Mode
		route func(int) Route
		req   func(int) *Request
	}{
		{"case-d/host_uri", HostURI, caseD, func(i int) *Request { return benchReq(fmt.Sprintf("/bench/d/%d", i), "127.0.0.1") }},
		{"case-d/uri", URI, caseD, func(i int) *Request { return benchReq(fmt.Sprintf("/bench/d/%d", i), "127.0.0.1") }},
		{"case-d/uri_with_parameter", URIWithParameter, caseD, func(i int) *Request { return benchReq(fmt.Sprintf("/bench/d/%d", i), "127.0.0.1") }},
		{"mixed/host_uri", HostURI, mixed, mixedReq},
	} {
		table := make([]Route, routes)
		for i := range table {
			table[i] = tc.route(i)
		}
		r, errs := Build(table, Options{Mode: tc.mode})
		if len(errs) > 0 {
			b.Fatalf("%s: %v", tc.name, errs)
		}
		reqs := make([]*Request, requested)
		for k := range reqs {
			i := k * (routes / requested) // the paths bench/run.sh's case d requests
			reqs[k] = tc.req(i)
			ps := &Params{}
			if got := r.Match(reqs[k], ps); got == nil || got.ID != fmt.Sprint(i) {
				b.Fatalf("%s: request %d matched %v, want route %d", tc.name, k, got, i)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			ps := &Params{}
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				ps.Reset()
				r.Match(reqs[k], ps)
				if k++; k == requested {
					k = 0
				}
			}
		})
		b.Run(tc.name+"/404", func(b *testing.B) {
			miss := benchReq("/nothing/here/at/all", "nohost.example.org")
			ps := &Params{}
			b.ReportAllocs()
			for b.Loop() {
				ps.Reset()
				if r.Match(miss, ps) != nil {
					b.Fatal("a miss matched")
				}
			}
		})
	}
}
