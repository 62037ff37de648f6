package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// traffic-split and api-breaker through the real binary: upstream choice by weight and by
// match, upstream objects and inline upstreams; a breaker opening on origin failures, letting
// a request through after the break time and closing on successes.

// splitGet sends a GET with extra request headers.
func splitGet(t testing.TB, url string, hdr map[string]string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// namedOrigin answers its name; with the query "host" it answers the Host it received.
func namedOrigin(t testing.TB, name string) *originServer {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("host") {
			fmt.Fprintf(w, "%s %s", name, r.Host)
			return
		}
		fmt.Fprint(w, name)
	})
}

func TestTrafficSplit(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	stable, canary := namedOrigin(t, "stable"), namedOrigin(t, "canary")
	routeUp := fmt.Sprintf(`"upstream":{"type":"roundrobin","nodes":{"%s":1}}`, stable.addr())
	put(t, n, "/upstreams/canary", fmt.Sprintf(`{"type":"roundrobin","nodes":{"%s":1}}`, canary.addr()))

	t.Run("canary 1:3 between an upstream object and the route's upstream", func(t *testing.T) {
		put(t, n, "/routes/canary", `{"uri":"/canary","plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[
			{"upstream_id":"canary","weight":1},{"weight":3}]}]}},`+routeUp+`}`)
		waitFor(t, n.proxyURL("/canary"), func(st int, b string) bool { return st == 200 && b == "canary" })
		got := map[string]int{}
		for range 40 {
			r := splitGet(t, n.proxyURL("/canary"), nil)
			if r.Status != 200 {
				t.Fatalf("status %d %q", r.Status, r.Body)
			}
			got[r.Body]++
		}
		// Weighted round robin is exact over whole periods (here 4 requests).
		if got["canary"] != 10 || got["stable"] != 30 || len(got) != 2 {
			t.Fatalf("40 requests: %v, want canary 10, stable 30", got)
		}
	})

	t.Run("3:1 between an inline upstream and an upstream object", func(t *testing.T) {
		put(t, n, "/routes/inline31", fmt.Sprintf(`{"uri":"/inline31","plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[
			{"upstream":{"type":"roundrobin","nodes":{"%s":1}},"weight":3},{"upstream_id":"canary","weight":1}]}]}},%s}`,
			stable.addr(), routeUp))
		waitFor(t, n.proxyURL("/inline31"), func(st int, b string) bool { return st == 200 })
		got := map[string]int{}
		for range 40 {
			got[splitGet(t, n.proxyURL("/inline31"), nil).Body]++
		}
		if got["stable"] != 30 || got["canary"] != 10 {
			t.Fatalf("40 requests: %v", got)
		}
	})

	t.Run("match on header and arg vars", func(t *testing.T) {
		put(t, n, "/routes/match", fmt.Sprintf(`{"uri":"/match","plugins":{"traffic-split":{"rules":[
			{"match":[{"vars":[["http_x_release","==","canary"]]}],
			 "weighted_upstreams":[{"upstream":{"type":"roundrobin","nodes":{"%s":1}}}]},
			{"match":[{"vars":[["arg_name","==","jack"],["arg_age",">","18"]]}],
			 "weighted_upstreams":[{"upstream_id":"canary"}]}]}},%s}`, canary.addr(), routeUp))
		waitFor(t, n.proxyURL("/match?name=jack&age=20"), bodyIs("canary"))
		for _, tc := range []struct {
			path string
			hdr  map[string]string
			want string
		}{
			{"/match", map[string]string{"X-Release": "canary"}, "canary"},
			{"/match", map[string]string{"X-Release": "stable"}, "stable"},
			{"/match?name=jack&age=20", nil, "canary"},
			{"/match?name=jack&age=16", nil, "stable"},
			{"/match", nil, "stable"},
		} {
			for range 3 {
				if r := splitGet(t, n.proxyURL(tc.path), tc.hdr); r.Status != 200 || r.Body != tc.want {
					t.Errorf("%s %v: %d %q, want %q", tc.path, tc.hdr, r.Status, r.Body, tc.want)
				}
			}
		}
	})

	t.Run("inline upstream with its own pass_host", func(t *testing.T) {
		put(t, n, "/routes/passhost", fmt.Sprintf(`{"uri":"/passhost","plugins":{"traffic-split":{"rules":[
			{"match":[{"vars":[["arg_mode","==","rewrite"]]}],
			 "weighted_upstreams":[{"upstream":{"type":"roundrobin","pass_host":"rewrite","upstream_host":"canary.internal","nodes":{"%[1]s":1}}}]},
			{"match":[{"vars":[["arg_mode","==","node"]]}],
			 "weighted_upstreams":[{"upstream":{"type":"roundrobin","pass_host":"node","nodes":{"%[1]s":1}}}]}]}},%[2]s}`,
			canary.addr(), routeUp))
		waitFor(t, n.proxyURL("/passhost?mode=rewrite&host=1"), bodyIs("canary canary.internal"))
		hdr := map[string]string{"Host": "client.example"}
		if r := splitGet(t, n.proxyURL("/passhost?mode=node&host=1"), hdr); r.Body != "canary "+canary.addr() {
			t.Errorf("pass_host node: %q", r.Body)
		}
		if r := splitGet(t, n.proxyURL("/passhost?mode=rewrite&host=1"), hdr); r.Body != "canary canary.internal" {
			t.Errorf("pass_host rewrite: %q", r.Body)
		}
		if r := splitGet(t, n.proxyURL("/passhost?host=1"), hdr); r.Body != "stable client.example" {
			t.Errorf("no rule: the route's upstream with pass_host pass: %q", r.Body)
		}
	})

	t.Run("writes are checked", func(t *testing.T) {
		r := do(t, "PUT", n.adminURL("/routes/badvars"), configuredKey, `{"uri":"/badvars","plugins":{"traffic-split":{"rules":[
			{"match":[{"vars":[["arg_x","=","1"]]}],"weighted_upstreams":[{"weight":1}]}]}},`+routeUp+`}`)
		if r.Status != 400 || !strings.Contains(r.Body, "failed to validate the 'vars' expression: ") {
			t.Errorf("bad vars: %d %s", r.Status, r.Body)
		}
		r = do(t, "PUT", n.adminURL("/routes/badfield"), configuredKey, `{"uri":"/badfield","plugins":{"traffic-split":{"rules":[
			{"weighted_upstreams":[{"weight":1}],"extra":1}]}},`+routeUp+`}`)
		if r.Status != 400 {
			t.Errorf("unknown rule field: %d %s", r.Status, r.Body)
		}
	})

	t.Run("an upstream_id that does not exist answers 500", func(t *testing.T) {
		put(t, n, "/routes/gone", `{"uri":"/gone","plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[
			{"upstream_id":"nope","weight":1},{"weight":1}]}]}},`+routeUp+`}`)
		waitFor(t, n.proxyURL("/gone"), func(st int, b string) bool { return st == 500 })
		for range 4 { // whichever entry the round robin is at
			r := splitGet(t, n.proxyURL("/gone"), nil)
			if r.Status != 500 || r.Body != "failed to fetch upstream info by upstream id: nope" {
				t.Fatalf("%d %q", r.Status, r.Body)
			}
		}
	})
}

func TestAPIBreaker(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	var failing atomic.Bool
	var hits atomic.Int64
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if failing.Load() {
			w.WriteHeader(500)
			fmt.Fprint(w, "origin failed")
			return
		}
		fmt.Fprint(w, "ok")
	})
	route := func(code int) string {
		return fmt.Sprintf(`{"uri":"/brk","plugins":{"api-breaker":{"break_response_code":%d,
			"break_response_body":"breaker open","break_response_headers":[{"key":"X-Breaker","value":"$host$uri"}],
			"unhealthy":{"http_statuses":[500],"failures":3},"healthy":{"http_statuses":[200],"successes":2}}},
			"upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, code, origin.addr())
	}
	put(t, n, "/routes/brk", route(502))
	waitFor(t, n.proxyURL("/brk"), bodyIs("ok"))
	url := n.proxyURL("/brk")

	failing.Store(true)
	for i := range 3 {
		if r := splitGet(t, url, nil); r.Status != 500 || r.Body != "origin failed" {
			t.Fatalf("failure %d passed through as %d %q", i+1, r.Status, r.Body)
		}
	}
	before := hits.Load()
	opened := time.Now()
	r := splitGet(t, url, nil)
	if r.Status != 502 || r.Body != "breaker open" || r.Header.Get("X-Breaker") != "127.0.0.1/brk" {
		t.Fatalf("open breaker: %d %q %v", r.Status, r.Body, r.Header)
	}
	if hits.Load() != before {
		t.Fatal("the open breaker forwarded the request")
	}

	// A changed conf keeps the state: it belongs to $host$uri, not to the plugin instance.
	put(t, n, "/routes/brk", route(503))
	waitFor(t, url, func(st int, _ string) bool { return st == 503 })

	// After the break time (2 s for the first 3 failures) requests pass again.
	failing.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := splitGet(t, url, nil)
		if r.Status == 200 {
			break
		}
		if r.Status != 503 {
			t.Fatalf("while open: %d %q", r.Status, r.Body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not let a request through within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if open := time.Since(opened); open < time.Second {
		t.Errorf("breaker open only %v; APISIX keeps it open at least 2 s", open)
	}

	// A second success closes it; three new failures are needed to open it again.
	if r := splitGet(t, url, nil); r.Status != 200 {
		t.Fatalf("second success: %d", r.Status)
	}
	failing.Store(true)
	for i := range 3 {
		if r := splitGet(t, url, nil); r.Status != 500 {
			t.Fatalf("after closing, failure %d: %d %q", i+1, r.Status, r.Body)
		}
	}
	if r := splitGet(t, url, nil); r.Status != 503 || r.Body != "breaker open" {
		t.Fatalf("reopened: %d %q", r.Status, r.Body)
	}

	// Another path has its own counters.
	put(t, n, "/routes/brk2", strings.Replace(route(502), `"/brk"`, `"/brk2"`, 1))
	failing.Store(false)
	waitFor(t, n.proxyURL("/brk2"), bodyIs("ok"))
}
