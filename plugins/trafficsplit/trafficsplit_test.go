package trafficsplit

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// fakeUpstream records what New compiled and whether it was closed.
type fakeUpstream struct {
	conf   map[string]any
	closed bool
}

func (f *fakeUpstream) Close() { f.closed = true }

type fakeEnv struct{ built []*fakeUpstream }

func (e *fakeEnv) newUpstream(conf json.RawMessage) (plugin.Upstream, error) {
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		return nil, err
	}
	if m["pass_host"] == "rewrite" && m["upstream_host"] == nil {
		return nil, errors.New("`upstream_host` can't be empty when `pass_host` is `rewrite`")
	}
	f := &fakeUpstream{conf: m}
	e.built = append(e.built, f)
	return f, nil
}

func split(t *testing.T, conf string) (*Split, *fakeEnv) {
	t.Helper()
	def, _ := plugin.Lookup("traffic-split")
	fe := &fakeEnv{}
	inst, err := def.New(json.RawMessage(conf), plugin.Env{NewUpstream: fe.newUpstream})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := inst.(*Split)
	t.Cleanup(s.Close)
	return s, fe
}

// chosen runs Access and names where the request goes: "route", "id:<id>", "inline:<name>"
// or "exit:<status> <body>".
func chosen(s *Split, c *plugintest.Ctx) string {
	s.Access(c)
	switch {
	case c.Exited():
		return "exit:" + strconv.Itoa(c.ExitStatus) + " " + string(c.ExitBody)
	case c.UpstreamV != nil:
		return "inline:" + c.UpstreamV.(*fakeUpstream).conf["name"].(string)
	case c.UpstreamIDV != "":
		return "id:" + c.UpstreamIDV
	}
	return "route"
}

func count(s *Split, n int, mk func() *plugintest.Ctx) map[string]int {
	got := map[string]int{}
	for range n {
		got[chosen(s, mk())]++
	}
	return got
}

func TestCanaryWeights(t *testing.T) {
	s, _ := split(t, `{"rules":[{"weighted_upstreams":[
		{"upstream_id":"canary","weight":1},{"weight":3}]}]}`)
	got := count(s, 40, plugintest.New)
	if got["id:canary"] != 10 || got["route"] != 30 || len(got) != 2 {
		t.Fatalf("3:1 over 40 requests: %v", got)
	}
}

func TestWRRSequenceMatchesLuaRoundRobin(t *testing.T) {
	// lua-resty-roundrobin with {a=5, b=1, c=3} (gcd 1, max 5), from cw = 5:
	// cw5: a; cw4: a; cw3: a c; cw2: a c; cw1: a b c → a a a c a c a b c.
	w := newWRR([]int64{5, 1, 3})
	want := []int{0, 0, 0, 2, 0, 2, 0, 1, 2}
	if w.period != 9 {
		t.Fatalf("period %d", w.period)
	}
	for k, e := range want {
		if got := w.at(uint64(k)); got != e {
			t.Fatalf("position %d: %d, want %d", k, got, e)
		}
	}
	// gcd: {20, 10} behaves as {2, 1}.
	w = newWRR([]int64{20, 10})
	if w.period != 3 || w.at(0) != 0 || w.at(1) != 0 || w.at(2) != 1 {
		t.Fatalf("gcd: period %d", w.period)
	}
	// Weight 0 is never chosen; all zero take turns; a lone entry always wins.
	w = newWRR([]int64{0, 2, 0})
	for k := range uint64(10) {
		if w.at(k) != 1 {
			t.Fatalf("weight 0 chosen at %d", k)
		}
	}
	w = newWRR([]int64{0, 0})
	if w.period != 2 || w.at(0) == w.at(1) {
		t.Fatal("all-zero weights do not take turns")
	}
	w = newWRR([]int64{0})
	if w.pick() != 0 {
		t.Fatal("lone entry")
	}
	// Huge weights do not need a table.
	w = newWRR([]int64{1 << 40, 1})
	if w.period != 1<<40+1 || w.at(1<<40) != 1 {
		t.Fatalf("huge weights: period %d, at(2^40)=%d", w.period, w.at(1<<40))
	}
}

func TestMatchRules(t *testing.T) {
	s, _ := split(t, `{"rules":[
		{"match":[{"vars":[["http_release","==","blue"]]},{"vars":[["arg_name","==","jack"],["arg_age",">",18]]}],
		 "weighted_upstreams":[{"upstream_id":"blue"}]},
		{"match":[{"vars":[["arg_green","==","1"]]}],
		 "weighted_upstreams":[{"upstream":{"name":"green","type":"roundrobin","nodes":{"127.0.0.1:1980":1}}}]}]}`)
	cases := []struct {
		name   string
		header map[string]string
		args   map[string]string
		want   string
	}{
		{"header matches the first item", map[string]string{"Release": "blue"}, nil, "id:blue"},
		{"second item: ANDed vars all true", nil, map[string]string{"name": "jack", "age": "20"}, "id:blue"},
		{"second item: one var false", nil, map[string]string{"name": "jack", "age": "16"}, "route"},
		{"second rule", nil, map[string]string{"green": "1"}, "inline:green"},
		{"first rule wins", map[string]string{"Release": "blue"}, map[string]string{"green": "1"}, "id:blue"},
		{"nothing matches: the route's upstream", nil, nil, "route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := plugintest.New()
			for k, v := range tc.header {
				c.ReqHeader.Set(k, v)
			}
			for k, v := range tc.args {
				c.Query.Set(k, v)
			}
			if got := chosen(s, c); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// An empty match array keeps the previous rule's verdict, as APISIX's loop does.
func TestEmptyMatchCarriesVerdict(t *testing.T) {
	s, _ := split(t, `{"rules":[{"match":[],"weighted_upstreams":[{"upstream_id":"a"}]}]}`)
	if got := chosen(s, plugintest.New()); got != "id:a" {
		t.Fatalf("empty match first: %s", got)
	}
	s, _ = split(t, `{"rules":[{"match":[{"vars":[["arg_x","==","1"]]}],"weighted_upstreams":[{"upstream_id":"a"}]},
		{"match":[],"weighted_upstreams":[{"upstream_id":"b"}]}]}`)
	if got := chosen(s, plugintest.New()); got != "route" {
		t.Fatalf("empty match after a miss: %s", got)
	}
}

func TestMissingUpstreamID(t *testing.T) {
	s, _ := split(t, `{"rules":[
		{"match":[{"vars":[["arg_x","==","1"]]}],"weighted_upstreams":[{"upstream_id":"gone"},{"weight":1}]},
		{"weighted_upstreams":[{"upstream_id":"here"}]}]}`)
	mk := func(x string) *plugintest.Ctx {
		c := plugintest.New()
		c.KnownUpstreams = map[string]bool{"here": true}
		if x != "" {
			c.Query.Set("x", x)
		}
		return c
	}
	// The rule being looked at is checked whole, whether it matches or not and whichever
	// entry would have been chosen.
	want := "exit:500 failed to fetch upstream info by upstream id: gone"
	for i := range 4 {
		if got := chosen(s, mk("1")); got != want {
			t.Fatalf("request %d: %s", i, got)
		}
		if got := chosen(s, mk("")); got != want {
			t.Fatalf("request %d without match: %s", i, got)
		}
	}
	// Integer ids name the same upstream as their string form.
	s, _ = split(t, `{"rules":[{"weighted_upstreams":[{"upstream_id":1}]}]}`)
	c := plugintest.New()
	c.KnownUpstreams = map[string]bool{"1": true}
	if got := chosen(s, c); got != "id:1" {
		t.Fatalf("integer id: %s", got)
	}
}

// After the id check, a request for the route's own upstream must not keep the checked id.
func TestRouteUpstreamAfterIDCheck(t *testing.T) {
	s, _ := split(t, `{"rules":[{"weighted_upstreams":[{"upstream_id":"u1","weight":1},{"weight":1}]}]}`)
	got := count(s, 10, plugintest.New)
	if got["id:u1"] != 5 || got["route"] != 5 {
		t.Fatalf("1:1: %v", got)
	}
}

func TestInlineUpstream(t *testing.T) {
	s, fe := split(t, `{"rules":[{"weighted_upstreams":[
		{"upstream":{"name":"in","type":"roundrobin","pass_host":"rewrite","upstream_host":"canary.test",
			"nodes":[{"host":"127.0.0.1","port":1980,"weight":1}],"retries":3,"timeout":{"connect":1,"send":2,"read":3},
			"checks":{"active":{"http_path":"/status"}}},"weight":1},
		{"upstream":{"name":"bad","pass_host":"rewrite","nodes":{"127.0.0.1:1981":1}},"weight":1}]}]}`)
	if len(fe.built) != 1 {
		t.Fatalf("built %d upstreams", len(fe.built))
	}
	conf := fe.built[0].conf
	for _, drop := range []string{"retries", "checks"} {
		if _, ok := conf[drop]; ok {
			t.Errorf("inline upstream kept %s: %v", drop, conf)
		}
	}
	if conf["upstream_host"] != "canary.test" || conf["pass_host"] != "rewrite" {
		t.Errorf("host fields lost: %v", conf)
	}
	if to := conf["timeout"].(map[string]any); to["connect"] != 1.0 || to["send"] != 2.0 || to["read"] != 3.0 {
		t.Errorf("timeout %v", to)
	}
	got := count(s, 4, plugintest.New)
	if got["inline:in"] != 2 || got["exit:500 `upstream_host` can't be empty when `pass_host` is `rewrite`"] != 2 {
		t.Fatalf("inline picks: %v", got)
	}
	s.Close()
	if !fe.built[0].closed {
		t.Fatal("Close did not close the inline upstream")
	}
}

func TestInlineTimeoutDefaults(t *testing.T) {
	_, fe := split(t, `{"rules":[{"weighted_upstreams":[{"upstream":{"name":"d","nodes":{"127.0.0.1:1980":1},"timeout":{"connect":2,"send":2,"read":2}}},
		{"upstream":{"name":"e","nodes":{"127.0.0.1:1980":1}}}]}]}`)
	to := fe.built[1].conf["timeout"].(map[string]any)
	if to["connect"] != 15.0 || to["send"] != 15.0 || to["read"] != 15.0 {
		t.Fatalf("default timeout %v", to)
	}
}

func TestDuplicateKeysReplaceWeight(t *testing.T) {
	// As a Lua table keyed by upstream_id: the later weight wins.
	s, _ := split(t, `{"rules":[{"weighted_upstreams":[{"upstream_id":"a","weight":5},{"weight":1},{"upstream_id":"a","weight":1}]}]}`)
	if got := count(s, 10, plugintest.New); got["id:a"] != 5 || got["route"] != 5 {
		t.Fatalf("%v", got)
	}
}

func TestDefaultWeightedUpstreams(t *testing.T) {
	s, _ := split(t, `{"rules":[{"match":[{"vars":[["arg_x","==","1"]]}]}]}`)
	c := plugintest.New()
	c.Query.Set("x", "1")
	if got := chosen(s, c); got != "route" {
		t.Fatal(got)
	}
}

func TestBadVars(t *testing.T) {
	def, _ := plugin.Lookup("traffic-split")
	_, err := def.New(json.RawMessage(`{"rules":[{"match":[{"vars":[["arg_x","=","1"]]}]}]}`), plugin.Env{})
	if err == nil || !strings.HasPrefix(err.Error(), "failed to validate the 'vars' expression: ") {
		t.Fatalf("err %v", err)
	}
}

// Without a data plane (Admin API validation) inline upstreams are only checked, not built.
func TestValidationWithoutDataPlane(t *testing.T) {
	inst := plugintest.MustNew(t, "traffic-split", `{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1":1}}}]}]}`)
	inst.(*Split).Close()
}

// Requests on many goroutines share one counter: whole periods still split exactly.
func TestWRRConcurrent(t *testing.T) {
	w := newWRR([]int64{3, 1})
	var counts [2]atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				counts[w.pick()].Add(1)
			}
		}()
	}
	wg.Wait()
	if counts[0].Load() != 3000 || counts[1].Load() != 1000 {
		t.Fatalf("%d:%d", counts[0].Load(), counts[1].Load())
	}
}

func BenchmarkWRRPick(b *testing.B) {
	w := newWRR([]int64{5, 1, 3, 0, 7})
	for b.Loop() {
		w.pick()
	}
}
