package snapshot

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/upstream"
)

// fixture drives a builder with store events, without a store: the same apply/build path Run
// uses, so merge rules are tested exhaustively and fast; compiler_test.go covers real etcd.
type fixture struct {
	t       testing.TB
	b       *builder
	rev     int64
	created map[string]int64
	cur     map[string]store.KV // what the "store" holds now
	retired []*upstream.Upstream
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFixture(t testing.TB, o Options) *fixture {
	if o.Prefix == "" {
		o.Prefix = "/apisix"
	}
	if o.Supported == nil {
		o.Supported = func(string) bool { return false }
	}
	return &fixture{t: t, b: newBuilder(o, quietLogger()), created: map[string]int64{}, cur: map[string]store.KV{}}
}

func (f *fixture) kv(key, val string) store.KV {
	f.rev++
	if _, ok := f.created[key]; !ok {
		f.created[key] = f.rev
	}
	kv := store.KV{Key: key, Value: []byte(val), CreateRevision: f.created[key], ModRevision: f.rev}
	f.cur[key] = kv
	return kv
}

func (f *fixture) put(key, val string) {
	kv := f.kv(key, val)
	f.b.apply(store.Event{Type: store.EventPut, KV: kv, Revision: kv.ModRevision})
}

func (f *fixture) del(key string) {
	f.rev++
	delete(f.created, key)
	delete(f.cur, key)
	f.b.apply(store.Event{Type: store.EventDelete, KV: store.KV{Key: key, ModRevision: f.rev}, Revision: f.rev})
}

// load applies a complete set in key order, as a List delivers it: keys whose value did not
// change keep their revisions, the others are written first.
func (f *fixture) load(objs map[string]string) {
	keys := slices.Sorted(maps.Keys(objs))
	kvs := make([]store.KV, 0, len(keys))
	for _, k := range keys {
		kv, ok := f.cur[k]
		if !ok || string(kv.Value) != objs[k] {
			kv = f.kv(k, objs[k])
		}
		kvs = append(kvs, kv)
	}
	for k := range f.cur {
		if _, ok := objs[k]; !ok {
			delete(f.cur, k)
			delete(f.created, k)
		}
	}
	f.b.apply(store.Event{Type: store.EventReset, Snapshot: kvs, Revision: f.rev})
}

func (f *fixture) build() *Snapshot {
	s, retired := f.b.build()
	f.retired = retired
	return s
}

func (f *fixture) route(s *Snapshot, id string) *Route {
	f.t.Helper()
	r := s.Routes[id]
	if r == nil {
		f.t.Fatalf("route %s not in snapshot; errors: %v", id, s.Errors)
	}
	return r
}

func tableEntry(s *Snapshot, id string) (router.Route, bool) {
	for _, rr := range s.table {
		if rr.ID == id {
			return rr, true
		}
	}
	return router.Route{}, false
}

func upKey(u *upstream.Upstream) string {
	if u == nil {
		return "<nil>"
	}
	return u.Key
}

func pluginNames(r *Route) string { return strings.Join(slices.Sorted(maps.Keys(r.Plugins)), ",") }

func TestMergeRules(t *testing.T) {
	const svc = `{"hosts":["svc.example"],"name":"svc-name","enable_websocket":true,
		"plugins":{"a":{"from":"service"},"b":{"from":"service"}},"upstream_id":"u2"}`
	cases := []struct {
		name  string
		objs  map[string]string
		check func(t *testing.T, r *Route, rr router.Route)
	}{
		{"plugins: route > plugin_config > service", map[string]string{
			"/apisix/services/s":       svc,
			"/apisix/plugin_configs/p": `{"plugins":{"b":{"from":"pc"},"c":{"from":"pc"}}}`,
			"/apisix/routes/r":         `{"uri":"/x","service_id":"s","plugin_config_id":"p","plugins":{"a":{"from":"route"},"c":{"from":"route"},"d":{}}}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			want := map[string]string{"a": `{"from":"route"}`, "b": `{"from":"pc"}`, "c": `{"from":"route"}`, "d": `{}`}
			if len(r.Plugins) != len(want) {
				t.Fatalf("plugins %s, want a,b,c,d", pluginNames(r))
			}
			for n, w := range want {
				if string(r.Plugins[n]) != w {
					t.Errorf("plugin %s = %s, want %s", n, r.Plugins[n], w)
				}
			}
		}},
		{"hosts: the service's when the route has none", map[string]string{
			"/apisix/services/s": svc,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s"}`,
		}, func(t *testing.T, r *Route, rr router.Route) {
			if !slices.Equal(rr.Hosts, []string{"svc.example"}) {
				t.Errorf("hosts %v", rr.Hosts)
			}
		}},
		{"hosts: route host overrides the service's", map[string]string{
			"/apisix/services/s": svc,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s","host":"own.example"}`,
		}, func(t *testing.T, r *Route, rr router.Route) {
			if !slices.Equal(rr.Hosts, []string{"own.example"}) {
				t.Errorf("hosts %v", rr.Hosts)
			}
		}},
		{"hosts: route hosts", map[string]string{
			"/apisix/routes/r": `{"uri":"/x","hosts":["a.example","*.b.example"],"upstream_id":"u1"}`,
		}, func(t *testing.T, r *Route, rr router.Route) {
			if !slices.Equal(rr.Hosts, []string{"a.example", "*.b.example"}) {
				t.Errorf("hosts %v", rr.Hosts)
			}
		}},
		{"uri, remote_addr, methods, priority normalised", map[string]string{
			"/apisix/routes/r": `{"uri":"/one","remote_addr":"10.1.2.3","methods":["GET"],"priority":7,"upstream_id":"u1"}`,
		}, func(t *testing.T, r *Route, rr router.Route) {
			if !slices.Equal(rr.URIs, []string{"/one"}) || len(rr.RemoteAddrs) != 1 ||
				rr.RemoteAddrs[0].String() != "10.1.2.3/32" || !slices.Equal(rr.Methods, []string{"GET"}) || rr.Priority != 7 {
				t.Errorf("router route %+v", rr)
			}
			if rr.Value != any(r) || rr.ID != "r" {
				t.Errorf("router value %v id %q, want the route", rr.Value, rr.ID)
			}
		}},
		{"uris and remote_addrs (CIDR, IPv6)", map[string]string{
			"/apisix/routes/r": `{"uris":["/a","/b/*"],"remote_addrs":["10.0.0.0/8","::1","2001:db8::/32"],"upstream_id":"u1"}`,
		}, func(t *testing.T, r *Route, rr router.Route) {
			var got []string
			for _, p := range rr.RemoteAddrs {
				got = append(got, p.String())
			}
			if !slices.Equal(rr.URIs, []string{"/a", "/b/*"}) || !slices.Equal(got, []string{"10.0.0.0/8", "::1/128", "2001:db8::/32"}) {
				t.Errorf("uris %v remote addrs %v", rr.URIs, got)
			}
		}},
		{"websocket, name: service base, route value wins, name not inherited", map[string]string{
			"/apisix/services/s": svc,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s","enable_websocket":false,"timeout":{"connect":1,"send":2,"read":3}}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if r.EnableWebsocket || r.Name != "" || r.Timeout == nil || r.Timeout.Read != 3 || r.ServiceID != "s" || r.Service == nil {
				t.Errorf("websocket %v name %q timeout %+v service %q", r.EnableWebsocket, r.Name, r.Timeout, r.ServiceID)
			}
		}},
		{"websocket inherited from the service", map[string]string{
			"/apisix/services/s": svc,
			"/apisix/routes/r":   `{"uri":"/x","name":"mine","service_id":"s"}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if !r.EnableWebsocket || r.Name != "mine" {
				t.Errorf("websocket %v name %q", r.EnableWebsocket, r.Name)
			}
		}},
		{"upstream: route upstream_id wins over its inline upstream", map[string]string{
			"/apisix/services/s": `{"upstream":{"nodes":{"s:80":1}},"upstream_id":"u2"}`,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s","upstream":{"nodes":{"r:80":1}},"upstream_id":"u1"}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/upstreams/u1" {
				t.Errorf("upstream %s", upKey(r.Upstream))
			}
		}},
		{"upstream: route inline replaces the service's upstream_id", map[string]string{
			"/apisix/services/s": `{"upstream":{"nodes":{"s:80":1}},"upstream_id":"u2"}`,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s","upstream":{"nodes":{"r:80":1}}}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/routes/r#upstream" {
				t.Errorf("upstream %s", upKey(r.Upstream))
			}
		}},
		{"upstream: route upstream_id before the service's", map[string]string{
			"/apisix/services/s": `{"upstream":{"nodes":{"s:80":1}},"upstream_id":"u2"}`,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s","upstream_id":"u1"}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/upstreams/u1" {
				t.Errorf("upstream %s", upKey(r.Upstream))
			}
		}},
		{"upstream: service upstream_id wins over its inline upstream", map[string]string{
			"/apisix/services/s": `{"upstream":{"nodes":{"s:80":1}},"upstream_id":"u2"}`,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s"}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/upstreams/u2" {
				t.Errorf("upstream %s", upKey(r.Upstream))
			}
		}},
		{"upstream: service inline upstream", map[string]string{
			"/apisix/services/s": `{"upstream":{"nodes":{"s:80":1}}}`,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s"}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/services/s#upstream" {
				t.Errorf("upstream %s", upKey(r.Upstream))
			}
		}},
		{"upstream: service upstream_id", map[string]string{
			"/apisix/services/s": `{"upstream_id":"u2"}`,
			"/apisix/routes/r":   `{"uri":"/x","service_id":"s"}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/upstreams/u2" || r.Failure != nil {
				t.Errorf("upstream %s failure %+v", upKey(r.Upstream), r.Failure)
			}
		}},
		{"numeric ids", map[string]string{
			"/apisix/upstreams/7": `{"id":7,"nodes":[{"host":"n","port":80,"weight":1}]}`,
			"/apisix/services/3":  `{"id":3,"upstream_id":7}`,
			"/apisix/routes/1":    `{"id":1,"uri":"/x","service_id":3}`,
		}, func(t *testing.T, r *Route, _ router.Route) {
			if upKey(r.Upstream) != "/apisix/upstreams/7" || r.ServiceID != "3" {
				t.Errorf("upstream %s service %q", upKey(r.Upstream), r.ServiceID)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			objs := map[string]string{
				"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
				"/apisix/upstreams/u2": `{"nodes":{"u2:80":1}}`,
			}
			maps.Copy(objs, c.objs)
			f.load(objs)
			s := f.build()
			id := "r"
			if _, ok := s.Routes["1"]; ok {
				id = "1"
			}
			r := f.route(s, id)
			rr, ok := tableEntry(s, id)
			if !ok {
				t.Fatalf("route %s not given to the router", id)
			}
			c.check(t, r, rr)
		})
	}
}

func TestFailuresAndErrors(t *testing.T) {
	cases := []struct {
		name       string
		route      string
		served     bool // in the router
		status     int  // Failure.Status, 0 for none
		unsupp     string
		errContain string // Errors["/apisix/routes/r"] contains; "" for no entry
	}{
		{"dangling upstream_id", `{"uri":"/x","upstream_id":"nope"}`, true, 502, "", "upstream_id nope not found"},
		{"dangling service_id", `{"uri":"/x","service_id":"nope"}`, true, 404, "", "service_id nope not found"},
		{"dangling plugin_config_id", `{"uri":"/x","plugin_config_id":"nope","upstream_id":"u1"}`, true, 503, "", "plugin_config_id nope not found"},
		{"status 0 is excluded silently", `{"uri":"/x","status":0,"upstream_id":"u1"}`, false, 0, "", ""},
		{"status 1 served", `{"uri":"/x","status":1,"upstream_id":"u1"}`, true, 0, "", ""},
		{"unsupported plugin fails closed", `{"uri":"/x","upstream_id":"u1","plugins":{"zzz-auth":{},"key-auth":{}}}`, true, 0, "key-auth", `"key-auth"`},
		{"disabled plugin is ignored", `{"uri":"/x","upstream_id":"u1","plugins":{"key-auth":{"_meta":{"disable":true}}}}`, true, 0, "", ""},
		{"supported plugin", `{"uri":"/x","upstream_id":"u1","plugins":{"echo":{}}}`, true, 0, "", ""},
		{"bad remote_addr skipped", `{"uri":"/x","upstream_id":"u1","remote_addr":"300.1.1.1"}`, false, 0, "", "remote_addrs"},
		{"bad inline upstream JSON", `{"uri":"/x","upstream":{"nodes":"x"}}`, false, 0, "", "invalid route"},
		{"not JSON", `{"uri":`, false, 0, "", "invalid route"},
		{"not an object", `[1]`, false, 0, "", "not a JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, Options{Supported: func(p string) bool { return p == "echo" }})
			f.load(map[string]string{
				"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
				"/apisix/routes/r":     c.route,
				"/apisix/routes/ok":    `{"uri":"/ok","upstream_id":"u1"}`,
			})
			s := f.build()
			if s.Routes["ok"] == nil {
				t.Fatalf("the unrelated route is not served: %v", s.Errors)
			}
			r := s.Routes["r"]
			_, inTable := tableEntry(s, "r")
			if (r != nil) != c.served || inTable != c.served {
				t.Fatalf("served %v (table %v), want %v; errors %v", r != nil, inTable, c.served, s.Errors)
			}
			if r != nil {
				status := 0
				if r.Failure != nil {
					status = r.Failure.Status
				}
				if status != c.status || r.Unsupported != c.unsupp {
					t.Errorf("failure %+v unsupported %q, want %d %q", r.Failure, r.Unsupported, c.status, c.unsupp)
				}
			}
			msg, has := s.Errors["/apisix/routes/r"]
			if c.errContain == "" && has || c.errContain != "" && !strings.Contains(msg, c.errContain) {
				t.Errorf("Errors entry %q (present %v), want containing %q", msg, has, c.errContain)
			}
			if len(s.Errors) > 1 || len(s.Errors) == 1 && !has {
				t.Errorf("unexpected errors: %v", s.Errors)
			}
		})
	}
}

func TestVarsCompileErrorSkipsRoute(t *testing.T) {
	if _, err := expr.Compile([]any{"arg_x", "no-such-op", "1"}); err == nil {
		t.Skip("expr.Compile accepts everything (stub build): nothing to reject")
	}
	f := newFixture(t, Options{})
	f.load(map[string]string{
		"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
		"/apisix/routes/r":     `{"uri":"/x","upstream_id":"u1","vars":[["arg_x","no-such-op","1"]]}`,
		"/apisix/routes/good":  `{"uri":"/x","upstream_id":"u1","vars":[["arg_x","==","1"]]}`,
	})
	s := f.build()
	if s.Routes["r"] != nil || !strings.Contains(s.Errors["/apisix/routes/r"], "vars") || s.Routes["good"] == nil {
		t.Fatalf("routes %v errors %v", slices.Sorted(maps.Keys(s.Routes)), s.Errors)
	}
}

func TestSkippedKeys(t *testing.T) {
	f := newFixture(t, Options{})
	f.load(map[string]string{
		"/apisix/routes/":                       "init_dir",
		"/apisix/upstreams/":                    `"init_dir"`,
		"/apisix/plugins":                       `[{"name":"key-auth"}]`,
		"/apisix/gen_id":                        `12`,
		"/apisix/stream_routes/1":               `{"upstream_id":"u1"}`,
		"/apisix/services/s/graphql_cost/1":     `{}`,
		"/apisix/upstreams/u1":                  `{"nodes":{"u1:80":1}}`,
		"/apisix/consumers/jack":                `{"username":"jack"}`,
		"/apisix/consumers/jack/credentials/c":  `{"plugins":{"key-auth":{"key":"k"}}}`,
		"/apisix/consumers/ghost/credentials/c": `{"plugins":{"key-auth":{"key":"g"}}}`,
		"/apisix/global_rules/g":                `{"plugins":{"prometheus":{}}}`,
		"/apisix/ssls/1":                        `{"snis":["a"]}`,
		"/apisix/plugin_metadata/http-logger":   `{"log_format":{}}`,
		"/apisix/consumer_groups/g1":            `{"plugins":{}}`,
		"/other/routes/1":                       `{"uri":"/x"}`,
	})
	s := f.build()
	wantErr := map[string]string{
		"/apisix/consumers/ghost/credentials/c": "consumer ghost not found",
		"/apisix/global_rules/g":                `"prometheus"`,
		"/apisix/ssls/1":                        "ssl not served: cert-key pair[1]: cert: not a PEM block",
	}
	if len(s.Errors) != len(wantErr) {
		t.Errorf("errors %v, want keys %v", s.Errors, slices.Sorted(maps.Keys(wantErr)))
	}
	for k, w := range wantErr {
		if !strings.Contains(s.Errors[k], w) {
			t.Errorf("Errors[%s] = %q, want containing %q", k, s.Errors[k], w)
		}
	}
	if c := s.Consumers["jack"]; c == nil || c.Credentials["c"] == nil {
		t.Errorf("consumer jack with credential c: %+v", c)
	}
	if len(s.Routes) != 0 || len(s.Upstreams) != 1 || len(s.SSLs) != 1 || len(s.PluginMetadata) != 1 ||
		len(s.ConsumerGroups) != 1 || s.GlobalRules["g"] == nil || s.GlobalRules["g"].Unsupported != "prometheus" {
		t.Errorf("snapshot %+v", s)
	}
}

func TestInsertionOrder(t *testing.T) {
	f := newFixture(t, Options{})
	// Key order at load: "10" sorts before "2", as etcd (and so APISIX) orders them.
	f.load(map[string]string{
		"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
		"/apisix/routes/2":     `{"uri":"/a","upstream_id":"u1"}`,
		"/apisix/routes/10":    `{"uri":"/a","upstream_id":"u1"}`,
		"/apisix/routes/5":     `{"uri":"/a","upstream_id":"u1"}`,
	})
	f.build()
	f.put("/apisix/routes/1", `{"uri":"/a","upstream_id":"u1"}`) // created later: appended
	f.put("/apisix/routes/2", `{"uri":"/b","upstream_id":"u1"}`) // updated: keeps its place
	f.put("/apisix/routes/0", `{"uri":"/a","upstream_id":"u1"}`) // created last
	f.put("/apisix/routes/5", `{"uri":"/a","status":0}`)         // disabled: leaves the table
	s := f.build()
	var got []string
	for _, rr := range s.table {
		got = append(got, rr.ID)
	}
	if want := []string{"10", "2", "1", "0"}; !slices.Equal(got, want) {
		t.Fatalf("router order %v, want %v", got, want)
	}
}

// TestReuse checks what carries over by pointer between snapshots and what is retired.
func TestReuse(t *testing.T) {
	f := newFixture(t, Options{})
	f.load(map[string]string{
		"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
		"/apisix/upstreams/u2": `{"nodes":{"u2:80":1}}`,
		"/apisix/services/s":   `{"upstream":{"nodes":{"s:80":1}}}`,
		"/apisix/routes/a":     `{"uri":"/a","upstream_id":"u1"}`,
		"/apisix/routes/b":     `{"uri":"/b","service_id":"s"}`,
		"/apisix/routes/c":     `{"uri":"/c","upstream":{"nodes":{"c:80":1}}}`,
		"/apisix/routes/d":     `{"uri":"/d","upstream_id":"u2"}`,
	})
	s1 := f.build()

	// An unrelated change: every compile carries over.
	f.put("/apisix/routes/e", `{"uri":"/e","upstream_id":"u2"}`)
	s2 := f.build()
	for _, id := range []string{"a", "b", "c", "d"} {
		if s1.Routes[id] != s2.Routes[id] {
			t.Errorf("route %s recompiled after an unrelated change", id)
		}
	}
	if s1.Upstreams["u1"] != s2.Upstreams["u1"] || len(f.retired) != 0 {
		t.Errorf("upstream u1 recompiled or something retired: %v", f.retired)
	}

	// Route c's plugins change, its inline upstream JSON does not: new Route, same upstream.
	f.put("/apisix/routes/c", `{"uri":"/c","upstream":{"nodes":{"c:80":1}},"plugins":{"x":{"_meta":{"disable":true}}}}`)
	s3 := f.build()
	if s3.Routes["c"] == s2.Routes["c"] || s3.Routes["c"].Upstream != s2.Routes["c"].Upstream {
		t.Errorf("route c: route reused %v, upstream reused %v; want new route, same upstream",
			s3.Routes["c"] == s2.Routes["c"], s3.Routes["c"].Upstream == s2.Routes["c"].Upstream)
	}

	// Upstream u1 changes: the route using it is recompiled onto the new one, the old is retired.
	oldU1 := s3.Upstreams["u1"]
	f.put("/apisix/upstreams/u1", `{"nodes":{"u1:81":1}}`)
	s4 := f.build()
	if s4.Upstreams["u1"] == oldU1 || s4.Routes["a"].Upstream != s4.Upstreams["u1"] || s4.Routes["d"] != s3.Routes["d"] {
		t.Errorf("after u1 change: new u1 %v, route a on it %v, route d kept %v",
			s4.Upstreams["u1"] != oldU1, s4.Routes["a"].Upstream == s4.Upstreams["u1"], s4.Routes["d"] == s3.Routes["d"])
	}
	if len(f.retired) != 1 || f.retired[0] != oldU1 {
		t.Errorf("retired %v, want the old u1", f.retired)
	}

	// The service's inline upstream changes: route b moves to the new one.
	oldSvcUp := s4.Routes["b"].Upstream
	f.put("/apisix/services/s", `{"upstream":{"nodes":{"s:81":1}}}`)
	s5 := f.build()
	if s5.Routes["b"].Upstream == oldSvcUp || len(f.retired) != 1 || f.retired[0] != oldSvcUp {
		t.Errorf("service upstream: moved %v, retired %v", s5.Routes["b"].Upstream != oldSvcUp, f.retired)
	}

	// Deleting route c retires its inline upstream; the rest stays.
	cUp := s5.Routes["c"].Upstream
	f.del("/apisix/routes/c")
	s6 := f.build()
	if s6.Routes["c"] != nil || len(f.retired) != 1 || f.retired[0] != cUp || s6.Routes["a"] != s5.Routes["a"] {
		t.Errorf("delete c: routes %v retired %v", slices.Sorted(maps.Keys(s6.Routes)), f.retired)
	}
	assertFresh(t, f, s6)
}

func TestDanglingThenCreated(t *testing.T) {
	f := newFixture(t, Options{})
	f.load(map[string]string{
		"/apisix/routes/r": `{"uri":"/x","service_id":"s","plugin_config_id":"p"}`,
	})
	s := f.build()
	if r := f.route(s, "r"); r.Failure == nil || r.Failure.Status != 503 {
		t.Fatalf("failure %+v, want 503 for the missing plugin_config first", r.Failure)
	}
	f.put("/apisix/plugin_configs/p", `{"plugins":{}}`)
	f.put("/apisix/services/s", `{"upstream_id":"u"}`)
	s = f.build()
	if r := f.route(s, "r"); r.Failure == nil || r.Failure.Status != 502 {
		t.Fatalf("failure %+v, want 502 for the service's missing upstream", r.Failure)
	}
	f.put("/apisix/upstreams/u", `{"nodes":{"u:80":1}}`)
	s = f.build()
	if r := f.route(s, "r"); r.Failure != nil || upKey(r.Upstream) != "/apisix/upstreams/u" || len(s.Errors) != 0 {
		t.Fatalf("failure %+v upstream %s errors %v", r.Failure, upKey(r.Upstream), s.Errors)
	}
	f.del("/apisix/services/s")
	s = f.build()
	if r := f.route(s, "r"); r.Failure == nil || r.Failure.Status != 404 {
		t.Fatalf("after the service is deleted: failure %+v", r.Failure)
	}
	assertFresh(t, f, s)
}

func TestBadValueKeepsLastGood(t *testing.T) {
	f := newFixture(t, Options{})
	f.load(map[string]string{
		"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
		"/apisix/routes/r":     `{"uri":"/good","upstream_id":"u1"}`,
	})
	f.build()
	f.put("/apisix/routes/r", `{"uri":`)
	s := f.build()
	if r := f.route(s, "r"); r.Spec.URI != "/good" || !strings.Contains(s.Errors["/apisix/routes/r"], "last good") {
		t.Fatalf("route %+v errors %v", r.Spec, s.Errors)
	}
	f.put("/apisix/routes/r", `{"uri":"/fixed","upstream_id":"u1"}`)
	s = f.build()
	if r := f.route(s, "r"); r.Spec.URI != "/fixed" || len(s.Errors) != 0 {
		t.Fatalf("route %+v errors %v", r.Spec, s.Errors)
	}
}

// describe renders what a snapshot serves, for comparing snapshots built different ways.
func describe(s *Snapshot) string {
	var lines []string
	for _, rr := range s.table {
		r := rr.Value.(*Route)
		fail := ""
		if r.Failure != nil {
			fail = fmt.Sprint(r.Failure.Status)
		}
		plugins, _ := json.Marshal(r.Plugins)
		lines = append(lines, fmt.Sprintf("%s uris=%v hosts=%v up=%s ws=%v fail=%s unsupp=%s plugins=%s",
			rr.ID, rr.URIs, rr.Hosts, upKey(r.Upstream), r.EnableWebsocket, fail, r.Unsupported, plugins))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
		lines = append(lines, "error "+k+": "+s.Errors[k])
	}
	lines = append(lines, fmt.Sprintf("served %v", slices.Sorted(maps.Keys(s.Routes))))
	ids := slices.Sorted(maps.Keys(s.Upstreams))
	lines = append(lines, fmt.Sprintf("upstreams %v consumers %d rules %d ssls %d", ids, len(s.Consumers), len(s.GlobalRules), len(s.SSLs)))
	return strings.Join(lines, "\n")
}

// assertFresh checks that an incrementally built snapshot equals a fresh build of the same data.
func assertFresh(t *testing.T, f *fixture, got *Snapshot) {
	t.Helper()
	all := map[string]string{}
	for k, kv := range f.cur {
		all[k] = string(kv.Value)
	}
	fresh := newFixture(t, Options{})
	fresh.load(all)
	if a, b := describe(got), describe(fresh.build()); a != b {
		t.Fatalf("incremental:\n%s\n\nfresh:\n%s", a, b)
	}
}

func TestResetEqualsFreshBuild(t *testing.T) {
	f := newFixture(t, Options{})
	f.load(map[string]string{
		"/apisix/upstreams/u1": `{"nodes":{"u1:80":1}}`,
		"/apisix/services/s":   `{"hosts":["h"],"upstream_id":"u1"}`,
		"/apisix/routes/a":     `{"uri":"/a","service_id":"s"}`,
		"/apisix/routes/b":     `{"uri":"/b","upstream_id":"gone"}`,
	})
	f.build()
	f.put("/apisix/routes/c", `{"uri":"/c","upstream":{"nodes":{"c:80":1}}}`)
	f.del("/apisix/routes/a")
	f.build()
	before := f.b.prev

	// The complete set as the store would list it now, after the watch lost track.
	all := map[string]string{
		"/apisix/upstreams/u1":   `{"nodes":{"u1:80":1}}`,
		"/apisix/upstreams/gone": `{"nodes":{"g:80":1}}`, // created while the watch was down
		"/apisix/services/s":     `{"hosts":["h"],"upstream_id":"u1"}`,
		"/apisix/routes/b":       `{"uri":"/b","upstream_id":"gone"}`,
		"/apisix/routes/c":       `{"uri":"/c","upstream":{"nodes":{"c:80":1}}}`,
		"/apisix/routes/d":       `{"uri":"/d","service_id":"s","plugins":{"p":{}}}`,
	}
	f.load(all)
	if f.b.prev != before {
		t.Fatal("a reset published (or replaced) the snapshot before the build")
	}
	got := f.build()

	fresh := newFixture(t, Options{})
	fresh.load(all)
	want := fresh.build()
	if describe(got) != describe(want) {
		t.Fatalf("after reset:\n%s\n\nfresh build:\n%s", describe(got), describe(want))
	}
	if got.Routes["c"].Upstream != before.Routes["c"].Upstream || got.Upstreams["u1"] != before.Upstreams["u1"] {
		t.Error("a reset recompiled unchanged upstreams")
	}
	// Everything left over after the reset is retired exactly once.
	seen := map[*upstream.Upstream]bool{}
	for _, u := range f.retired {
		if seen[u] {
			t.Errorf("upstream %s retired twice", u.Key)
		}
		seen[u] = true
	}
	if len(f.retired) != 0 {
		keys := make([]string, 0, len(f.retired))
		for _, u := range f.retired {
			keys = append(keys, u.Key)
		}
		sort.Strings(keys)
		t.Errorf("retired %v, want none (route a had no upstream of its own)", keys)
	}
}
