package admin

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/plugin"
)

func init() {
	register(
		suiteCase{"PluginsList", testPluginsList},
		suiteCase{"PluginSchemas", testPluginSchemas},
		suiteCase{"PluginsReload", testPluginsReload},
		suiteCase{"ResourceSchemas", testResourceSchemas},
	)
}

func testPluginsList(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	got := e.do("GET", "/apisix/admin/plugins/list", "")
	e.expect(got, 200, "", false)
	var names []string
	if err := json.Unmarshal([]byte(got.body), &names); err != nil {
		t.Fatal(err)
	}
	if len(names) != len(testPlugins) {
		t.Fatalf("list %v, want the %d enabled plugins", names, len(testPlugins))
	}
	for i := 1; i < len(names); i++ {
		a, _ := plugin.Lookup(names[i-1])
		b, _ := plugin.Lookup(names[i])
		if a.Priority < b.Priority {
			t.Fatalf("%v not sorted by priority: %s(%d) before %s(%d)", names, a.Name, a.Priority, b.Name, b.Priority)
		}
	}
	e.expect(e.do("GET", "/apisix/admin/plugins/list?subsystem=udp", ""), 400, "invalid subsystem passed", false)
	e.expect(e.do("POST", "/apisix/admin/plugins/list", ""), 404, `{"error_msg":"not found"}`, true)

	all := decode(t, e.do("GET", "/apisix/admin/plugins?all=true", "").body)
	ka, _ := all["key-auth"].(map[string]any)
	if len(all) != len(testPlugins) || ka["priority"] != float64(2500) || ka["type"] != "auth" || ka["consumer_schema"] == nil {
		t.Fatalf("plugins?all=true: key-auth = %v (%d plugins)", ka, len(all))
	}
}

func testPluginSchemas(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	for _, path := range []string{"/apisix/admin/plugins/key-auth", "/apisix/admin/schema/plugins/key-auth"} {
		m := decode(t, e.do("GET", path, "").body)
		if m["type"] != "object" {
			t.Fatalf("GET %s = %v, want a JSON schema", path, m)
		}
	}
	consumer := decode(t, e.do("GET", "/apisix/admin/plugins/key-auth?schema_type=consumer", "").body)
	if req, _ := consumer["required"].([]any); len(req) != 1 || req[0] != "key" {
		t.Fatalf("consumer schema = %v, want key required", consumer)
	}
	e.steps([]step{
		{"GET", "/apisix/admin/plugins/cors", "", 404, `{"error_msg":"plugin not found in subsystem http"}`, true},
		{"GET", "/apisix/admin/plugins/nope", "", 404, `{"error_msg":"plugin not found in subsystem http"}`, true},
		{"GET", "/apisix/admin/plugins/http-logger?schema_type=metadata", "", 200, `{"properties":{"log_format":{"type":"object"}}}`, false},
		{"GET", "/apisix/admin/plugins/key-auth?subsystem=x", "", 400, `{"error_msg":"unsupported subsystem: x"}`, true},
	})
}

func testPluginsReload(t *testing.T, st store.Store, prefix string) {
	calls := 0
	var fail error
	e := newEnv(t, st, prefix, func(o *Options) {
		o.ReloadPlugins = func() error { calls++; return fail }
	})
	e.expect(e.do("PUT", "/apisix/admin/plugins/reload", ""), 200, "done", false)
	if calls != 1 {
		t.Fatalf("reload called %d times", calls)
	}
	for _, m := range []string{"GET", "POST", "DELETE", "PATCH"} {
		e.expect(e.do(m, "/apisix/admin/plugins/reload", ""), 405,
			`{"error_msg":"please use PUT method to reload the plugins, `+m+` method is not allowed."}`, true)
	}
	fail = errors.New("busy")
	e.expect(e.do("PUT", "/apisix/admin/plugins/reload", ""), 503, "busy", false)
	if calls != 2 {
		t.Fatalf("reload called %d times, want 2 (405s must not reload)", calls)
	}
}

func testResourceSchemas(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	if _, ok := e.opts.Checker.ResourceSchema("routes"); !ok {
		t.Skip("model.Checker.ResourceSchema not implemented yet")
	}
	if m := decode(t, e.do("GET", "/apisix/admin/schema/route", "").body); m["type"] != "object" {
		t.Fatalf("route schema = %v", m)
	}
	e.steps([]step{
		{"GET", "/apisix/admin/schema/nope", "", 400, `{"error_msg":"not found schema: nope"}`, true},
		{"POST", "/apisix/admin/schema/validate/routes", route1, 200, "", false},
		{"POST", "/apisix/admin/schema/validate/routs", route1, 404, `{"error_msg":"Unsupported resource type: routs"}`, true},
		{"POST", "/apisix/admin/schema/validate/routes", `{"uri":`, 400, "", false},
	})
	got := e.do("POST", "/apisix/admin/schema/validate/routes", `{"uri":1,"upstream":`+upstream1+`}`)
	e.expect(got, 400, "", false)
	if msg, _ := decode(t, got.body)["error_msg"].(string); msg == "" {
		t.Fatalf("no error_msg in %s", got.body)
	}
}
