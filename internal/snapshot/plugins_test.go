package snapshot

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/plugin"
)

// snapPlugin is a test-only plugin: New counts calls and refuses {"fail":true}; Close is
// recorded.
type snapPlugin struct {
	conf   string
	env    plugin.Env
	closed atomic.Bool
}

func (p *snapPlugin) Access(plugin.Ctx) {}
func (p *snapPlugin) Close()            { p.closed.Store(true) }

var snapNews atomic.Int64

func init() {
	newSnap := func(conf json.RawMessage, env plugin.Env) (any, error) {
		snapNews.Add(1)
		if strings.Contains(string(conf), `"fail":true`) {
			return nil, errors.New("conf refused")
		}
		return &snapPlugin{conf: string(conf), env: env}, nil
	}
	plugin.Register(plugin.Definition{Name: "snap-a", Priority: 100, New: newSnap})
	plugin.Register(plugin.Definition{Name: "snap-b", Priority: 200, New: newSnap})
	plugin.Register(plugin.Definition{Name: "snap-auth", Priority: 2500, Type: "auth", New: newSnap,
		Index: func(creds []plugin.Credential) (any, error) {
			m := map[string]*plugin.Consumer{}
			for _, c := range creds {
				var k struct{ Key string }
				json.Unmarshal(c.Conf, &k)
				m[k.Key] = c.Consumer
			}
			return m, nil
		}})
	plugin.Register(plugin.Definition{Name: "snap-nobehaviour", Priority: 1})
}

func pluginFixture(t *testing.T) *fixture {
	return newFixture(t, Options{Supported: func(name string) bool {
		d, ok := plugin.Lookup(name)
		return ok && d.New != nil
	}})
}

func chainDesc(c *pluginrt.Chain) string {
	var out []string
	if c != nil {
		for _, in := range c.Plugins {
			out = append(out, in.Name+"@"+string(in.Source)+"="+in.Impl.(*snapPlugin).conf)
		}
	}
	return strings.Join(out, " ")
}

func TestPluginChainsCompiled(t *testing.T) {
	f := pluginFixture(t)
	f.load(map[string]string{
		"/apisix/services/s":             `{"plugins":{"snap-a":{"v":"svc"},"snap-b":{"v":"svc"}},"upstream":{"nodes":{"a:80":1}}}`,
		"/apisix/plugin_configs/p":       `{"plugins":{"snap-b":{"v":"pc"}}}`,
		"/apisix/routes/r":               `{"uri":"/r","service_id":"s","plugin_config_id":"p","plugins":{"snap-a":{"v":"route"}}}`,
		"/apisix/routes/plain":           `{"uri":"/plain","upstream":{"nodes":{"a:80":1}}}`,
		"/apisix/plugin_metadata/snap-a": `{"id":"snap-a","x":1}`,
	})
	s := f.build()
	r := f.route(s, "r")
	if got, want := chainDesc(r.Chain), `snap-b@plugin_config={"v":"pc"} snap-a@route={"v":"route"}`; got != want {
		t.Fatalf("chain %s, want %s", got, want)
	}
	a := r.Chain.Get("snap-a").Impl.(*snapPlugin)
	if a.env.Parent != "/apisix/routes/r" || string(a.env.Metadata) != `{"id":"snap-a","x":1}` {
		t.Fatalf("env %+v", a.env)
	}
	if f.route(s, "plain").Chain != nil {
		t.Fatal("a route without plugins has a chain")
	}

	// Carry-over: an unrelated write recompiles nothing; changing one conf recompiles that
	// one and retires (then Closes) the old instance.
	before := snapNews.Load()
	f.put("/apisix/routes/other", `{"uri":"/o","upstream":{"nodes":{"a:80":1}}}`)
	f.put("/apisix/routes/r", `{"uri":"/r","service_id":"s","plugin_config_id":"p","plugins":{"snap-a":{"v":"route"}},"desc":"x"}`)
	s2 := f.build()
	r2 := f.route(s2, "r")
	if snapNews.Load() != before || r2.Chain.Get("snap-a") != r.Chain.Get("snap-a") || r2.Chain.Get("snap-b") != r.Chain.Get("snap-b") {
		t.Fatalf("unchanged confs were recompiled (%d New calls)", snapNews.Load()-before)
	}
	if len(f.b.takeRetiredPlugins()) != 0 {
		t.Fatal("retired instances on an unrelated change")
	}
	f.put("/apisix/plugin_configs/p", `{"plugins":{"snap-b":{"v":"pc2"}}}`)
	s3 := f.build()
	r3 := f.route(s3, "r")
	retired := f.b.takeRetiredPlugins()
	if r3.Chain.Get("snap-a") != r.Chain.Get("snap-a") || r3.Chain.Get("snap-b") == r.Chain.Get("snap-b") {
		t.Fatal("plugin_config change: wrong instances replaced")
	}
	if len(retired) != 1 || retired[0] != r.Chain.Get("snap-b") {
		t.Fatalf("retired %v", retired)
	}

	// plugin_metadata change recompiles that plugin's instances.
	f.put("/apisix/plugin_metadata/snap-a", `{"id":"snap-a","x":2}`)
	s4 := f.build()
	if a4 := f.route(s4, "r").Chain.Get("snap-a").Impl.(*snapPlugin); a4 == a || string(a4.env.Metadata) != `{"id":"snap-a","x":2}` {
		t.Fatal("metadata change not recompiled")
	}
	if n := len(f.b.takeRetiredPlugins()); n != 2 {
		t.Fatalf("metadata change retired %d instances, want 2 (route's and service's snap-a)", n)
	}

	// Deleting the route retires its own instances; the service's stay (other users may come).
	f.del("/apisix/routes/r")
	f.build()
	names := []string{}
	for _, in := range f.b.takeRetiredPlugins() {
		names = append(names, in.Name+"@"+in.Parent)
	}
	slices.Sort(names)
	if want := []string{"snap-a@/apisix/routes/r"}; !slices.Equal(names, want) {
		t.Fatalf("retired %v want %v", names, want)
	}
	f.del("/apisix/services/s")
	f.del("/apisix/plugin_configs/p")
	f.build()
	if n := len(f.b.takeRetiredPlugins()); n != 3 {
		t.Fatalf("deleting service and plugin_config retired %d instances, want 3", n)
	}
}

func TestPluginNewErrorFailsClosed(t *testing.T) {
	f := pluginFixture(t)
	f.load(map[string]string{
		"/apisix/routes/bad":  `{"uri":"/bad","plugins":{"snap-a":{"fail":true}},"upstream":{"nodes":{"a:80":1}}}`,
		"/apisix/routes/none": `{"uri":"/none","plugins":{"snap-nobehaviour":{}},"upstream":{"nodes":{"a:80":1}}}`,
		"/apisix/routes/off":  `{"uri":"/off","plugins":{"snap-a":{"fail":true,"_meta":{"disable":true}}},"upstream":{"nodes":{"a:80":1}}}`,
	})
	s := f.build()
	if r := f.route(s, "bad"); r.Unsupported != "snap-a" || !strings.Contains(s.Errors["/apisix/routes/bad"], "conf refused") {
		t.Fatalf("bad: unsupported %q, error %q", r.Unsupported, s.Errors["/apisix/routes/bad"])
	}
	if r := f.route(s, "none"); r.Unsupported != "snap-nobehaviour" {
		t.Fatalf("none: %q", r.Unsupported)
	}
	if r := f.route(s, "off"); r.Unsupported != "" || r.Chain != nil {
		t.Fatalf("disabled plugin: unsupported %q chain %v", r.Unsupported, r.Chain)
	}

	// A global rule whose conf New refuses fails every request closed, and says why in
	// every later snapshot too.
	f.put("/apisix/global_rules/g", `{"id":"g","plugins":{"snap-a":{"fail":true}}}`)
	s = f.build()
	f.put("/apisix/routes/x", `{"uri":"/x","upstream":{"nodes":{"a:80":1}}}`)
	s = f.build()
	if s.Plugins.GlobalBroken == "" || !strings.Contains(s.Errors["/apisix/global_rules/g"], "conf refused") {
		t.Fatalf("global broken %q, error %q", s.Plugins.GlobalBroken, s.Errors["/apisix/global_rules/g"])
	}
}

func TestPluginSetGlobalConsumersIndex(t *testing.T) {
	f := pluginFixture(t)
	f.load(map[string]string{
		"/apisix/global_rules/1":                `{"id":"1","plugins":{"snap-a":{"v":"g1"},"snap-b":{"v":"g1"}}}`,
		"/apisix/global_rules/2":                `{"id":"2","plugins":{"snap-b":{"v":"g2"}}}`,
		"/apisix/consumer_groups/gold":          `{"id":"gold","plugins":{"snap-a":{"v":"gold"}}}`,
		"/apisix/consumers/jack":                `{"username":"jack","group_id":"gold","plugins":{"snap-auth":{"key":"k1"},"snap-b":{"v":"jack"}}}`,
		"/apisix/consumers/jack/credentials/c1": `{"id":"c1","plugins":{"snap-auth":{"key":"k2"}}}`,
		"/apisix/consumers/rose":                `{"username":"rose","plugins":{"snap-nobehaviour":{}}}`,
	})
	s := f.build()
	set := s.Plugins
	if got := chainDesc(set.Global); got != `snap-a@global_rule={"v":"g1"}` {
		t.Fatalf("global %s (snap-b is in two rules: dropped)", got)
	}
	jack := set.Consumers["jack"]
	if jack == nil || chainDesc(jack.Group) != `snap-a@consumer_group={"v":"gold"}` || chainDesc(jack.Consumer) != `snap-b@consumer={"v":"jack"}` {
		t.Fatalf("jack %+v", jack)
	}
	if rose := set.Consumers["rose"]; rose == nil || rose.Broken == "" {
		t.Fatalf("rose must fail closed: %+v", rose)
	}
	idx, _ := set.Indexes["snap-auth"].(map[string]*plugin.Consumer)
	if idx["k1"] == nil || idx["k1"].Username != "jack" || idx["k1"].GroupID != "gold" || idx["k2"].CredentialID != "c1" {
		t.Fatalf("index %v", idx)
	}

	// A route change keeps the plugin set's parts (and its instances) but a fresh memo.
	f.put("/apisix/routes/x", `{"uri":"/x","upstream":{"nodes":{"a:80":1}}}`)
	s2 := f.build()
	if s2.Plugins == set || s2.Plugins.Global != set.Global || s2.Plugins.Consumers["jack"] != jack {
		t.Fatal("plugin set not carried over")
	}
	// Removing a global rule retires its instances.
	f.del("/apisix/global_rules/1")
	s3 := f.build()
	if got := chainDesc(s3.Plugins.Global); got != `snap-b@global_rule={"v":"g2"}` {
		t.Fatalf("global after delete: %s", got)
	}
	var closed int
	for _, in := range f.b.takeRetiredPlugins() {
		in.Close()
		if in.Impl.(*snapPlugin).closed.Load() {
			closed++
		}
	}
	if closed != 2 {
		t.Fatalf("closed %d instances of the deleted rule, want 2", closed)
	}
}

// Every consumer reaches every auth plugin's Index, those without a conf of it with an empty
// Conf, so an anonymous_consumer carrying no credential (APISIX's usual example: one with
// only limit-count) is found by name.
func TestAuthIndexSeesConsumersWithoutCredential(t *testing.T) {
	f := pluginFixture(t)
	f.load(map[string]string{
		"/apisix/consumers/jack": `{"username":"jack","plugins":{"snap-auth":{"key":"k1"}}}`,
		"/apisix/consumers/anon": `{"username":"anon","group_id":"g"}`,
	})
	idx, _ := f.build().Plugins.Indexes["snap-auth"].(map[string]*plugin.Consumer)
	// the test Index keys by conf "key": an empty Conf lands under ""
	if idx["k1"] == nil || idx["k1"].Username != "jack" || idx[""] == nil || idx[""].Username != "anon" || idx[""].GroupID != "g" {
		t.Fatalf("index %v", idx)
	}
}
