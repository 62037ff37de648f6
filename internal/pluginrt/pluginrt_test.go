package pluginrt

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// recorder is a test-only plugin: every phase appends "<phase>:<name>/<tag>" to the request's
// log; conf may make it exit in one phase or attach a consumer.
type recorder struct {
	name string
	conf recorderConf
}

type recorderConf struct {
	Tag        string `json:"tag"`
	ExitPhase  string `json:"exit_phase"`
	ExitStatus int    `json:"exit_status"`
	ExitBody   string `json:"exit_body"`
	Attach     string `json:"attach"` // auth: username to attach
	BodySuffix string `json:"body_suffix"`
}

type logKey struct{}

func (r *recorder) rec(c plugin.Ctx, phase string) {
	log, _ := c.Get(logKey{}).(*[]string)
	*log = append(*log, phase+":"+r.name+"/"+r.conf.Tag)
	if r.conf.ExitPhase == phase {
		var body []byte
		if r.conf.ExitBody != "" {
			body = []byte(r.conf.ExitBody)
		}
		c.Exit(r.conf.ExitStatus, body)
	}
}

func (r *recorder) Rewrite(c plugin.Ctx) {
	if r.conf.Attach != "" {
		idx, _ := c.Credentials().(string)
		c.AttachConsumer(&plugin.Consumer{Username: r.conf.Attach, GroupID: idx})
	}
	r.rec(c, "rewrite")
}
func (r *recorder) Access(c plugin.Ctx)       { r.rec(c, "access") }
func (r *recorder) BeforeProxy(c plugin.Ctx)  { r.rec(c, "before_proxy") }
func (r *recorder) HeaderFilter(c plugin.Ctx) { r.rec(c, "header_filter") }
func (r *recorder) Log(c plugin.Ctx)          { r.rec(c, "log") }
func (r *recorder) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	if r.conf.BodySuffix != "" && eof {
		return append(append([]byte{}, chunk...), r.conf.BodySuffix...)
	}
	return chunk
}

func registerRecorder(name string, prio int, typ string) {
	plugin.Register(plugin.Definition{
		Name: name, Priority: prio, Type: typ,
		New: func(conf json.RawMessage, env plugin.Env) (any, error) {
			r := &recorder{name: name}
			if err := json.Unmarshal(conf, &r.conf); err != nil {
				return nil, err
			}
			if strings.Contains(string(conf), "_meta") {
				return nil, fmt.Errorf("_meta reached New")
			}
			return r, nil
		},
		Index:     func(creds []plugin.Credential) (any, error) { return "indexed", nil },
		RunPolicy: map[bool]string{true: "prefer_route"}[name == "rt-prefer"],
	})
}

func init() {
	registerRecorder("rt-high", 3000, "")
	registerRecorder("rt-auth", 2500, "auth")
	registerRecorder("rt-mid", 2000, "")
	registerRecorder("rt-low", 1000, "")
	registerRecorder("rt-prefer", 1500, "")
}

// tctx routes the identity and value methods of plugintest.Ctx through a State, as the
// proxy's Ctx does.
type tctx struct {
	*plugintest.Ctx
	st *State
}

func (c tctx) Consumer() *plugin.Consumer        { return c.st.Consumer() }
func (c tctx) AttachConsumer(p *plugin.Consumer) { c.st.AttachConsumer(p) }
func (c tctx) Credentials() any                  { return c.st.Credentials() }
func (c tctx) Set(k, v any)                      { c.st.Set(k, v) }
func (c tctx) Get(k any) any                     { return c.st.Get(k) }

func inst(t *testing.T, name string, src Source, conf string) *Instance {
	t.Helper()
	def, ok := plugin.Lookup(name)
	if !ok {
		t.Fatalf("no plugin %s", name)
	}
	in, err := Compile(def, json.RawMessage(conf), src, plugin.Env{Parent: "/apisix/" + string(src) + "s/1"})
	if err != nil {
		t.Fatalf("compile %s %s: %v", name, conf, err)
	}
	return in
}

// runAll drives a request through every phase as an engine does and returns the log.
func runAll(set *Set, matched bool, route *Chain, c *plugintest.Ctx) ([]string, *State) {
	st := &State{}
	st.Begin(set, matched, route)
	x := tctx{c, st}
	var log []string
	st.Set(logKey{}, &log)
	if !st.RunRewrite(x) && !st.RunAccess(x) {
		st.RunBeforeProxy(x)
	}
	st.RunHeaderFilter(x)
	st.RunLog(x)
	return log, st
}

func TestPhaseOrderGlobalRouteConsumer(t *testing.T) {
	set := &Set{
		Global: GlobalChain([][]*Instance{{inst(t, "rt-mid", FromGlobalRule, `{"tag":"g"}`)}}, nil),
		Consumers: map[string]*ConsumerPlugins{
			"jack": {
				Group:    NewChain([]*Instance{inst(t, "rt-low", FromConsumerGroup, `{"tag":"grp"}`), inst(t, "rt-high", FromConsumerGroup, `{"tag":"grp"}`)}),
				Consumer: NewChain([]*Instance{inst(t, "rt-low", FromConsumer, `{"tag":"jack"}`)}),
			},
		},
		Indexes: map[string]any{"rt-auth": "g1"},
	}
	route := NewChain([]*Instance{
		inst(t, "rt-high", FromRoute, `{"tag":"route"}`),
		inst(t, "rt-auth", FromRoute, `{"tag":"route","attach":"jack"}`),
	})
	log, st := runAll(set, true, route, plugintest.New())
	want := []string{
		"rewrite:rt-mid/g",
		"rewrite:rt-high/route", "rewrite:rt-auth/route",
		// consumer merge: the group's rt-high replaces the route's, but its name was on the
		// route, so only rt-low (new to the route; the consumer's beats the group's) runs
		// rewrite_in_consumer.
		"rewrite:rt-low/jack",
		"access:rt-mid/g",
		"access:rt-high/grp", "access:rt-auth/route", "access:rt-low/jack",
		"before_proxy:rt-mid/g",
		"before_proxy:rt-high/grp", "before_proxy:rt-auth/route", "before_proxy:rt-low/jack",
		"header_filter:rt-mid/g",
		"header_filter:rt-high/grp", "header_filter:rt-auth/route", "header_filter:rt-low/jack",
		"log:rt-mid/g",
		"log:rt-high/grp", "log:rt-auth/route", "log:rt-low/jack",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("order:\n got %q\nwant %q", log, want)
	}
	if c := st.Consumer(); c == nil || c.GroupID != "g1" {
		t.Fatalf("consumer %+v: Credentials must hand the auth plugin its index", c)
	}
	// memoized per (route, consumer)
	if set.Merged(route, "jack") != set.Merged(route, "jack") {
		t.Fatal("merged chain not memoized")
	}
}

func TestUnmatchedRunsGlobalOnly(t *testing.T) {
	set := &Set{Global: NewChain([]*Instance{inst(t, "rt-mid", FromGlobalRule, `{"tag":"g"}`)})}
	route := NewChain([]*Instance{inst(t, "rt-high", FromRoute, `{"tag":"r"}`)})
	log, _ := runAll(set, false, route, plugintest.New())
	want := []string{"rewrite:rt-mid/g", "access:rt-mid/g", "before_proxy:rt-mid/g", "header_filter:rt-mid/g", "log:rt-mid/g"}
	if !slices.Equal(log, want) {
		t.Fatalf("got %q want %q", log, want)
	}
}

func TestExitStopsRequestPhasesButNotFilters(t *testing.T) {
	set := &Set{Global: NewChain([]*Instance{inst(t, "rt-low", FromGlobalRule, `{"tag":"g"}`)})}
	route := NewChain([]*Instance{
		inst(t, "rt-high", FromRoute, `{"tag":"r","exit_phase":"access","exit_status":403}`),
		inst(t, "rt-mid", FromRoute, `{"tag":"r"}`),
	})
	c := plugintest.New()
	log, _ := runAll(set, true, route, c)
	want := []string{
		"rewrite:rt-low/g", "rewrite:rt-high/r", "rewrite:rt-mid/r",
		"access:rt-low/g", "access:rt-high/r",
		"header_filter:rt-low/g", "header_filter:rt-high/r", "header_filter:rt-mid/r",
		"log:rt-low/g", "log:rt-high/r", "log:rt-mid/r",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("got %q\nwant %q", log, want)
	}
	if c.ExitStatus != 403 || c.ExitBody != nil {
		t.Fatalf("exit %d %q", c.ExitStatus, c.ExitBody)
	}
}

func TestMeta(t *testing.T) {
	t.Run("disable drops the plugin", func(t *testing.T) {
		if in := inst(t, "rt-high", FromRoute, `{"_meta":{"disable":true}}`); in != nil {
			t.Fatal("disabled plugin compiled")
		}
	})
	t.Run("priority reorders within the object", func(t *testing.T) {
		route := NewChain([]*Instance{
			inst(t, "rt-high", FromRoute, `{"tag":"r"}`),
			inst(t, "rt-low", FromRoute, `{"tag":"r","_meta":{"priority":5000}}`),
		})
		log, _ := runAll(&Set{}, true, route, plugintest.New())
		if log[0] != "rewrite:rt-low/r" || log[1] != "rewrite:rt-high/r" {
			t.Fatalf("got %q", log)
		}
	})
	t.Run("filter evaluated once, false skips every phase", func(t *testing.T) {
		route := NewChain([]*Instance{
			inst(t, "rt-high", FromRoute, `{"tag":"r","_meta":{"filter":[["arg_v","==","1"]]}}`),
			inst(t, "rt-low", FromRoute, `{"tag":"r"}`),
		})
		c := plugintest.New()
		c.Query = url.Values{"v": {"2"}}
		log, _ := runAll(&Set{}, true, route, c)
		for _, e := range log {
			if strings.Contains(e, "rt-high") {
				t.Fatalf("filtered plugin ran: %q", log)
			}
		}
		c = plugintest.New()
		c.Query = url.Values{"v": {"1"}}
		log, st := runAll(&Set{}, true, route, c)
		if !slices.Contains(log, "log:rt-high/r") || len(st.filters) != 1 {
			t.Fatalf("filter true: %q (cached %d)", log, len(st.filters))
		}
	})
	t.Run("error_response replaces the body of a >=400 exit", func(t *testing.T) {
		for _, tc := range []struct {
			conf, want string
			status     int
		}{
			{`{"exit_phase":"rewrite","exit_status":401,"_meta":{"error_response":{"msg":"nope"}}}`, "{\"msg\":\"nope\"}\n", 401},
			{`{"exit_phase":"access","exit_status":403,"exit_body":"x","_meta":{"error_response":"custom"}}`, "custom", 403},
			{`{"exit_phase":"access","exit_status":302,"exit_body":"x","_meta":{"error_response":"custom"}}`, "x", 302},
		} {
			c := plugintest.New()
			runAll(&Set{}, true, NewChain([]*Instance{inst(t, "rt-high", FromRoute, tc.conf)}), c)
			if c.ExitStatus != tc.status || string(c.ExitBody) != tc.want {
				t.Errorf("%s: got %d %q", tc.conf, c.ExitStatus, c.ExitBody)
			}
		}
	})
}

func TestConsumerMergePrecedence(t *testing.T) {
	route := NewChain([]*Instance{
		inst(t, "rt-high", FromService, `{"tag":"svc"}`),
		inst(t, "rt-mid", FromRoute, `{"tag":"route"}`),
		inst(t, "rt-low", FromPluginConfig, `{"tag":"pc"}`),
	})
	cp := &ConsumerPlugins{
		Group:    NewChain([]*Instance{inst(t, "rt-mid", FromConsumerGroup, `{"tag":"grp"}`), inst(t, "rt-low", FromConsumerGroup, `{"tag":"grp"}`)}),
		Consumer: NewChain([]*Instance{inst(t, "rt-low", FromConsumer, `{"tag":"jack"}`), inst(t, "rt-auth", FromConsumer, `{"tag":"cred"}`)}),
	}
	m := MergeConsumer(route, cp)
	var got []string
	for _, in := range m.Chain.Plugins {
		got = append(got, in.Name+"/"+string(in.Source))
	}
	want := []string{"rt-high/service", "rt-mid/consumer_group", "rt-low/consumer"}
	if !slices.Equal(got, want) {
		t.Fatalf("merged %q want %q (auth confs on consumers are credentials)", got, want)
	}
	if len(m.Added) != 0 {
		t.Fatalf("added %v: every name was on the route", m.Added)
	}
}

func TestGlobalRuleDuplicateDropped(t *testing.T) {
	g := GlobalChain([][]*Instance{
		{inst(t, "rt-high", FromGlobalRule, `{}`), inst(t, "rt-mid", FromGlobalRule, `{}`)},
		{inst(t, "rt-mid", FromGlobalRule, `{}`)},
		{inst(t, "rt-mid", FromGlobalRule, `{}`)},
	}, nil)
	if g.Len() != 1 || g.Plugins[0].Name != "rt-high" {
		t.Fatalf("global chain %v", g.Plugins)
	}
}

func TestBodyFilterChains(t *testing.T) {
	set := &Set{Global: NewChain([]*Instance{inst(t, "rt-low", FromGlobalRule, `{"body_suffix":"-g"}`)})}
	route := NewChain([]*Instance{inst(t, "rt-high", FromRoute, `{"body_suffix":"-r"}`)})
	st := &State{}
	st.Begin(set, true, route)
	x := tctx{plugintest.New(), st}
	if out := st.RunBodyFilter(x, []byte("a"), false); string(out) != "a" {
		t.Fatalf("mid chunk %q", out)
	}
	if out := st.RunBodyFilter(x, []byte("b"), true); string(out) != "b-g-r" {
		t.Fatalf("last chunk %q", out)
	}
	if !st.HasBodyFilters() {
		t.Fatal("HasBodyFilters")
	}
}

func BenchmarkChain(b *testing.B) {
	t := &testing.T{}
	route := NewChain([]*Instance{
		inst(t, "rt-high", FromRoute, `{}`), inst(t, "rt-mid", FromRoute, `{}`), inst(t, "rt-low", FromRoute, `{}`),
	})
	set := &Set{}
	c := plugintest.New()
	st := &State{}
	x := tctx{c, st}
	log := make([]string, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		st.Begin(set, true, route)
		log = log[:0]
		st.Set(logKey{}, &log)
		st.RunRewrite(x)
		st.RunAccess(x)
		st.RunBeforeProxy(x)
		st.RunHeaderFilter(x)
		st.RunLog(x)
		st.Reset()
	}
}

// run_policy prefer_route: a global rule's copy runs only for routes without their own.
func TestPreferRoute(t *testing.T) {
	set := &Set{Global: GlobalChain([][]*Instance{{inst(t, "rt-prefer", FromGlobalRule, `{"tag":"g"}`)}}, nil)}
	with := NewChain([]*Instance{inst(t, "rt-prefer", FromRoute, `{"tag":"route"}`)})
	log, _ := runAll(set, true, with, plugintest.New())
	for _, l := range log {
		if strings.HasSuffix(l, "/g") {
			t.Errorf("global copy ran beside the route's: %q", log)
		}
	}
	without := NewChain([]*Instance{inst(t, "rt-low", FromRoute, `{"tag":"route"}`)})
	log, _ = runAll(set, true, without, plugintest.New())
	if !slices.Contains(log, "log:rt-prefer/g") {
		t.Errorf("global copy did not run for a route without one: %q", log)
	}
	log, _ = runAll(set, false, nil, plugintest.New())
	if !slices.Contains(log, "log:rt-prefer/g") {
		t.Errorf("global copy did not run for an unmatched request: %q", log)
	}
}

// closeCounter counts Close calls.
type closeCounter struct{ n int }

func (c *closeCounter) Close() { c.n++ }

// TestInstanceCloseWaitsForHolds: a retired instance a session still holds is closed when the
// session lets go, once.
func TestInstanceCloseWaitsForHolds(t *testing.T) {
	impl := &closeCounter{}
	in := NewInstance(&plugin.Definition{Name: "x"}, impl, FromRoute, "/apisix/stream_routes/1")
	release := in.Hold()
	in.Close()
	if impl.n != 0 {
		t.Fatalf("closed while held")
	}
	release()
	if impl.n != 1 {
		t.Fatalf("not closed when the last hold ended: %d", impl.n)
	}
	in.Hold()() // a late hold and release after the close
	in.Close()
	if impl.n != 1 {
		t.Fatalf("closed %d times", impl.n)
	}
	plain := &closeCounter{}
	NewInstance(&plugin.Definition{Name: "y"}, plain, FromRoute, "").Close()
	if plain.n != 1 {
		t.Fatalf("an instance nobody holds is not closed at once")
	}
}
