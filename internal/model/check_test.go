package model

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

func init() {
	plugin.Register(plugin.Definition{
		Name:     "test-auth",
		Priority: 1,
		Type:     "auth",
		Schema:   json.RawMessage(`{"type":"object","properties":{"hide":{"type":"boolean","default":false}}}`),
		ConsumerSchema: json.RawMessage(`{"type":"object","properties":{"key":{"type":"string","minLength":1}},
			"required":["key"]}`),
	})
	plugin.Register(plugin.Definition{
		Name:     "test-limit",
		Priority: 2,
		Schema: json.RawMessage(`{"type":"object","properties":{"count":{"type":"integer","exclusiveMinimum":0},
			"policy":{"type":"string","default":"local"}},"required":["count"]}`),
		MetadataSchema: json.RawMessage(`{"type":"object","properties":{"log_format":{"type":"object"}}}`),
		Stream:         true,
	})
	plugin.Register(plugin.Definition{Name: "test-off", Priority: 3})
}

func newTestChecker(t *testing.T) *Checker {
	t.Helper()
	c, err := NewChecker(Options{Enabled: func(name string) bool { return name != "test-off" }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test json %s: %v", s, err)
	}
	return m
}

const upstreamNodes = `"upstream":{"nodes":{"127.0.0.1:1980":1}}`

func TestCheckErrors(t *testing.T) {
	c := newTestChecker(t)
	tests := []struct {
		name string
		kind Kind
		id   string
		obj  string
		want string
	}{
		{"route ok", Routes, "1", `{"uri":"/a",` + upstreamNodes + `}`, ""},
		{"route missing uri", Routes, "1", `{` + upstreamNodes + `}`,
			"invalid configuration: allOf 1 failed: value should match only one schema, but matches none"},
		{"route nothing to run", Routes, "1", `{"uri":"/a"}`,
			`invalid configuration: object matches none of the required: ["plugins","uri"] or ["upstream","uri"] or ["upstream_id","uri"] or ["service_id","uri"] or ["plugins","uris"] or ["upstream","uris"] or ["upstream_id","uris"] or ["service_id","uris"] or ["script","uri"] or ["script","uris"]`},
		{"route uri too long", Routes, "1", `{"uri":"/` + strings.Repeat("a", 4096) + `","upstream_id":1}`,
			`invalid configuration: property "uri" validation failed: string too long, expected at most 4096, got 4097`},
		{"route bad method", Routes, "1", `{"uri":"/a","upstream_id":1,"methods":["GET","get"]}`,
			`invalid configuration: property "methods" validation failed: failed to validate item 2: matches none of the enum values`},
		{"route extra field", Routes, "1", `{"uri":"/a","upstream_id":1,"xxx":1}`,
			"invalid configuration: additional properties forbidden, found xxx"},
		{"route host and hosts", Routes, "1", `{"uri":"/a","upstream_id":1,"host":"a.com","hosts":["b.com"]}`,
			"only one of host or hosts is allowed"},
		{"route remote_addr and remote_addrs", Routes, "1", `{"uri":"/a","upstream_id":1,"remote_addr":"127.0.0.1","remote_addrs":["127.0.0.1"]}`,
			"only one of remote_addr or remote_addrs is allowed"},
		{"route cidr ok", Routes, "1", `{"uri":"/a","upstream_id":1,"remote_addrs":["10.0.0.0/8","::1","fe80::/64"]}`, ""},
		{"route bad remote_addr", Routes, "1", `{"uri":"/a","upstream_id":1,"remote_addr":"10.0.0.0/33"}`,
			`invalid configuration: property "remote_addr" validation failed: object matches none of the required`},
		{"route bad host", Routes, "1", `{"uri":"/a","upstream_id":1,"host":"a b"}`,
			`invalid configuration: property "host" validation failed: failed to match pattern "^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$" with "a b"`},
		{"route timeout zero", Routes, "1", `{"uri":"/a","upstream_id":1,"timeout":{"connect":0,"send":1,"read":1}}`,
			`invalid configuration: property "timeout" validation failed: property "connect" validation failed: expected 0 to be greater than 0`},
		{"route timeout missing read", Routes, "1", `{"uri":"/a","upstream_id":1,"timeout":{"connect":1,"send":1}}`,
			`invalid configuration: property "timeout" validation failed: property "read" is required`},
		{"route bad id", Routes, "", `{"uri":"/a","upstream_id":"a b"}`,
			`invalid configuration: property "upstream_id" validation failed: object matches none of the required`},
		{"route wrong id", Routes, "1", `{"id":"2","uri":"/a","upstream_id":1}`, "wrong route id"},
		{"route id on post", Routes, "", `{"id":"2","uri":"/a","upstream_id":1}`, "wrong route id, do not need it"},
		{"route integer id matches", Routes, "2", `{"id":2,"uri":"/a","upstream_id":1}`, ""},
		{"route vars unbracketed", Routes, "1", `{"uri":"/a","upstream_id":1,"vars":["arg_a","==","1"]}`,
			"failed to validate the 'vars' expression: rule should be wrapped inside brackets"},
		{"route vars lookahead", Routes, "1", `{"uri":"/a","upstream_id":1,"vars":[["uri","~~","^/a(?!b)"]]}`,
			`failed to validate the 'vars' expression: invalid regex "^/a(?!b)": negative lookahead "(?!" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
		{"route filter_func", Routes, "1", `{"uri":"/a","upstream_id":1,"filter_func":"function(vars) return true end"}`,
			"filter_func is not supported: Sluice does not run Lua"},
		{"route script", Routes, "1", `{"uri":"/a","script":"local _M = {} return _M"}`,
			"script is not supported: Sluice does not run Lua"},
		// routes4.t TEST 17: the schema's `not` (script with plugins) answers before the Lua check.
		{"route script with plugins", Routes, "1", `{"uri":"/a","plugins":{},"script":"local _M = {} return _M"}`,
			"invalid configuration: value wasn't supposed to match schema"},
		{"route script_id", Routes, "1", `{"uri":"/a","upstream_id":1,"script_id":"1"}`,
			"script_id is not supported: Sluice does not run Lua"},
		{"route times allowed", Routes, "1", `{"uri":"/a","upstream_id":1,"create_time":1,"update_time":2}`, ""},
		{"route label with space", Routes, "1", `{"uri":"/a","upstream_id":1,"labels":{"env":"a b"}}`,
			`invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): failed to match pattern "^\\S+$" with "a b"`},
		{"route status enum", Routes, "1", `{"uri":"/a","upstream_id":1,"status":2}`,
			`invalid configuration: property "status" validation failed: matches none of the enum values`},

		{"unknown plugin", Routes, "1", `{"uri":"/a","plugins":{"no-such":{}}}`, "unknown plugin [no-such]"},
		{"disabled plugin", Routes, "1", `{"uri":"/a","plugins":{"test-off":{}}}`, "unknown plugin [test-off]"},
		{"non-object conf", Routes, "1", `{"uri":"/a","plugins":{"test-limit":"abc"}}`,
			`invalid plugin conf "abc" for plugin [test-limit]`},
		{"plugin schema failure", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"count":0}}}`,
			"failed to check the configuration of plugin test-limit err: property \"count\" validation failed: expected 0 to be greater than 0"},
		{"plugin required", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{}}}`,
			"failed to check the configuration of plugin test-limit err: property \"count\" is required"},
		{"disabled conf accepted", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"_meta":{"disable":true}}}}`, ""},
		{"meta unknown field", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"count":1,"_meta":{"foo":1}}}}`,
			"failed to check the configuration of plugin test-limit err: property \"_meta\" validation failed: additional properties forbidden, found foo"},
		{"meta error_response", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"count":1,"_meta":{"error_response":1}}}}`,
			"failed to check the configuration of plugin test-limit err: property \"_meta\" validation failed: property \"error_response\" validation failed: value should match only one schema, but matches none"},
		{"meta filter", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"count":1,"_meta":{"filter":["arg_a","==","1"]}}}}`,
			"failed to validate the 'vars' expression: rule should be wrapped inside brackets"},
		{"meta pre_function", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"count":1,"_meta":{"pre_function":"return function() end"}}}}`,
			"_meta.pre_function in plugin test-limit is not supported: Sluice does not run Lua"},
		{"meta ok", Routes, "1", `{"uri":"/a","plugins":{"test-limit":{"count":1,"_meta":{"priority":5,"filter":[["arg_a","==","1"]],"error_response":{"m":1}}}}}`, ""},

		{"upstream ok", Upstreams, "1", `{"nodes":[{"host":"127.0.0.1","port":80,"weight":1}]}`, ""},
		{"upstream no nodes", Upstreams, "1", `{"type":"roundrobin"}`,
			"invalid configuration: value should match only one schema, but matches none"},
		{"upstream nodes and discovery", Upstreams, "1", `{"nodes":{"a:1":1},"service_name":"s","discovery_type":"dns"}`,
			"invalid configuration: value should match only one schema, but matches both schemas 1 and 2"},
		{"upstream negative weight", Upstreams, "1", `{"nodes":{"a:1":-1}}`,
			`invalid configuration: property "nodes" validation failed: object matches none of the required`},
		{"chash missing key", Upstreams, "1", `{"type":"chash","nodes":{"a:1":1}}`, "missing key"},
		{"chash consumer no key", Upstreams, "1", `{"type":"chash","hash_on":"consumer","nodes":{"a:1":1}}`, ""},
		{"chash bad vars key", Upstreams, "1", `{"type":"chash","key":"xxx","nodes":{"a:1":1}}`,
			`invalid configuration: failed to match pattern "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$" with "xxx"`},
		{"chash header key", Upstreams, "1", `{"type":"chash","hash_on":"header","key":"X-Id","nodes":{"a:1":1}}`, ""},
		{"checks without active", Upstreams, "1", `{"nodes":{"a:1":1},"checks":{"passive":{"type":"http"}}}`,
			`invalid configuration: property "checks" validation failed: object matches none of the required: ["active"] or ["active","passive"]`},
		{"checks unknown field", Upstreams, "1", `{"nodes":{"a:1":1},"checks":{"active":{},"foo":1}}`,
			`invalid configuration: property "checks" validation failed: additional properties forbidden, found foo`},
		{"pass_host rewrite", Upstreams, "1", `{"nodes":{"a:1":1},"pass_host":"rewrite"}`,
			"`upstream_host` can't be empty when `pass_host` is `rewrite`"},
		{"bad scheme", Upstreams, "1", `{"nodes":{"a:1":1},"scheme":"ftp"}`,
			`invalid configuration: property "scheme" validation failed: matches none of the enum values`},
		{"tls cert without key", Upstreams, "1", `{"nodes":{"a:1":1},"tls":{"client_cert":"` + strings.Repeat("a", 128) + `"}}`,
			`invalid configuration: property "tls" validation failed: failed to validate dependent schema for "client_cert": property "client_key" is required`},
		{"tls bad cert", Upstreams, "1", `{"nodes":{"a:1":1},"tls":{"client_cert":"` + strings.Repeat("a", 128) + `","client_key":"` + strings.Repeat("b", 64) + `"}}`,
			"failed to parse cert: PEM_read_bio_X509_AUX() failed"},
		{"inline upstream chained", Routes, "1", `{"uri":"/a","upstream":{"nodes":[{"host":"a","port":0,"weight":1}]}}`,
			`invalid configuration: property "upstream" validation failed: property "nodes" validation failed: object matches none of the required`},
		{"inline upstream semantic", Services, "1", `{"upstream":{"type":"chash","nodes":{"a:1":1}}}`, "missing key"},
		{"service script", Services, "1", `{"script":"local _M = {} return _M"}`, "script is not supported: Sluice does not run Lua"},
		{"service hosts", Services, "1", `{"hosts":["a.com"],"upstream_id":1}`, ""},

		{"consumer ok", Consumers, "jack", `{"username":"jack","plugins":{"test-auth":{"key":"k"}}}`, ""},
		{"consumer bad name", Consumers, "", `{"username":"ja ck"}`,
			`invalid configuration: property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\-]+$" with "ja ck"`},
		{"consumer wrong username", Consumers, "rose", `{"username":"jack"}`, "wrong username"},
		{"consumer auth uses consumer schema", Consumers, "jack", `{"username":"jack","plugins":{"test-auth":{}}}`,
			`invalid plugins configuration: failed to check the configuration of plugin test-auth err: property "key" is required`},
		{"consumer non-auth uses schema", Consumers, "jack", `{"username":"jack","plugins":{"test-limit":{"count":-1}}}`,
			`invalid plugins configuration: failed to check the configuration of plugin test-limit err: property "count" validation failed: expected -1 to be greater than 0`},
		{"consumer unknown plugin", Consumers, "jack", `{"username":"jack","plugins":{"nope":{}}}`,
			"invalid plugins configuration: unknown plugin [nope]"},

		{"credential ok", Credentials, "c1", `{"plugins":{"test-auth":{"key":"k"}}}`, ""},
		{"credential two plugins", Credentials, "c1", `{"plugins":{"test-auth":{"key":"k"},"test-limit":{"count":1}}}`,
			`invalid configuration: property "plugins" validation failed: expect object to have at most 1 properties`},
		{"credential non-auth", Credentials, "c1", `{"plugins":{"test-limit":{"count":1}}}`,
			"only supports auth type plugins in consumer credential"},
		{"credential bad conf", Credentials, "c1", `{"plugins":{"test-auth":{"key":""}}}`,
			`invalid plugins configuration: failed to check the configuration of plugin test-auth err: property "key" validation failed: string too short, expected at least 1, got 0`},

		{"consumer group needs plugins", ConsumerGroups, "g1", `{}`, `invalid configuration: property "plugins" is required`},
		{"global rule ok", GlobalRules, "1", `{"plugins":{"test-limit":{"count":1}}}`, ""},
		{"plugin config bad plugin", PluginConfigs, "1", `{"plugins":{"test-limit":{"count":"x"}}}`,
			`failed to check the configuration of plugin test-limit err: property "count" validation failed: wrong type: expected integer, got string`},
		{"stream route ok", StreamRoutes, "1", `{"server_port":9100,"plugins":{"test-limit":{"count":1}},` + upstreamNodes + `}`, ""},
		{"stream route non-stream plugin", StreamRoutes, "1", `{"plugins":{"test-auth":{}}}`, "unknown plugin [test-auth]"},
		{"stream route bad field", StreamRoutes, "1", `{"uri":"/a"}`, "invalid configuration: additional properties forbidden, found uri"},
		{"proto needs content", Protos, "1", `{}`, `invalid configuration: property "content" is required`},
		{"ssl missing sni", SSLs, "1", `{"cert":"` + strings.Repeat("a", 128) + `","key":"` + strings.Repeat("a", 128) + `"}`,
			"invalid configuration: then clause did not match"},
		{"ssl short cert", SSLs, "1", `{"sni":"a.com","cert":"abc","key":"` + strings.Repeat("a", 128) + `"}`,
			`invalid configuration: property "cert" validation failed: value should match only one schema, but matches none`},
		{"ssl bad protocol", SSLs, "1", `{"sni":"a.com","cert":"$secret://vault/1/c","key":"$secret://vault/1/k","ssl_protocols":["TLSv1.0"]}`,
			`invalid configuration: property "ssl_protocols" validation failed: failed to validate item 1: matches none of the enum values`},
		{"ssl secret refs", SSLs, "1", `{"snis":["a.com"],"cert":"$secret://vault/1/c","key":"$env://KEY"}`, ""},
		{"ssl bad pem", SSLs, "1", `{"sni":"a.com","cert":"` + strings.Repeat("a", 128) + `","key":"` + strings.Repeat("a", 128) + `"}`,
			"failed to parse cert: PEM_read_bio_X509_AUX() failed"},
		{"secret vault ok", Secrets, "vault/1", `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix","token":"root"}`, ""},
		{"secret vault missing token", Secrets, "vault/1", `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix"}`,
			`invalid configuration: property "token" is required`},
		{"secret unknown manager", Secrets, "foo/1", `{}`, "invalid secret manager: foo"},
		{"secret gcp needs one", Secrets, "gcp/1", `{}`, "invalid configuration: value should match only one schema, but matches none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Check(tc.kind, tc.id, decode(t, tc.obj))
			got := ""
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %T is not *model.Error: %v", err, err)
				}
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCheckInjectsResourceDefaultsOnly(t *testing.T) {
	c := newTestChecker(t)
	obj := decode(t, `{"uri":"/a","plugins":{"test-limit":{"count":1}},
		"upstream":{"nodes":[{"host":"a","port":80,"weight":1}],"checks":{"active":{"healthy":{}}}}}`)
	if err := c.Check(Routes, "r1", obj); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(obj)
	want := `{"id":"r1","plugins":{"test-limit":{"count":1}},"priority":0,"status":1,` +
		`"upstream":{"checks":{"active":{"concurrency":10,"healthy":{"http_statuses":[200,302],"interval":1,"successes":2},` +
		`"http_method":"GET","http_path":"/","http_req_body":"","https_verify_certificate":true,"timeout":1,"type":"http"}},` +
		`"hash_on":"vars","nodes":[{"host":"a","port":80,"priority":0,"weight":1}],"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/a"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	ssl := decode(t, `{"sni":"a.com","cert":"$env://C","key":"$env://K","client":{"ca":"`+testCA+`"}}`)
	if err := c.Check(SSLs, "s1", ssl); err != nil {
		t.Fatal(err)
	}
	if ssl["type"] != "server" || ssl["status"] != float64(1) || ssl["client"].(map[string]any)["depth"] != float64(1) {
		t.Errorf("ssl defaults missing: %v", ssl)
	}
}

func TestCheckPluginMetadata(t *testing.T) {
	c := newTestChecker(t)
	tests := []struct{ name, obj, want string }{
		{"test-limit", `{"log_format":{"a":"$host"}}`, ""},
		{"test-limit", `{"log_format":"x"}`, `invalid configuration: property "log_format" validation failed: wrong type: expected object, got string`},
		{"test-auth", `{}`, "no metadata schema for plugin test-auth"},
		{"nope", `{}`, "invalid plugin name"},
	}
	for _, tc := range tests {
		err := c.CheckPluginMetadata(tc.name, decode(t, tc.obj))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.name, tc.obj, got, tc.want)
		}
	}
}

func TestPluginSchema(t *testing.T) {
	c := newTestChecker(t)
	raw, ok := c.PluginSchema("test-limit", "")
	if !ok {
		t.Fatal("test-limit schema missing")
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	meta, _ := doc["properties"].(map[string]any)["_meta"].(map[string]any)
	if meta == nil || meta["additionalProperties"] != false {
		t.Fatalf("_meta not injected: %s", raw)
	}
	var fields []string
	for k := range meta["properties"].(map[string]any) {
		fields = append(fields, k)
	}
	if got := strings.Join(sortedCopy(fields), ","); got != "disable,error_response,filter,pre_function,priority" {
		t.Errorf("_meta fields = %s", got)
	}
	raw, ok = c.PluginSchema("test-auth", "consumer")
	if !ok || !strings.Contains(string(raw), `"key"`) || strings.Contains(string(raw), "_meta") {
		t.Errorf("consumer schema = %s", raw)
	}
	if _, ok := c.PluginSchema("test-off", ""); ok {
		t.Error("a disabled plugin must not have a schema")
	}
	if _, ok := c.PluginSchema("nope", ""); ok {
		t.Error("an unknown plugin must not have a schema")
	}
}

func TestReferences(t *testing.T) {
	tests := []struct {
		kind Kind
		obj  string
		want string
	}{
		{Routes, `{"upstream_id":1,"service_id":"s","plugin_config_id":"p","plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[{"upstream_id":"u2","weight":1},{"weight":1}]}]}}}`,
			"upstreams/1/upstream_id services/s/service_id plugin_configs/p/plugin_config_id upstreams/u2/upstream_id"},
		{Services, `{"upstream_id":"u"}`, "upstreams/u/upstream_id"},
		{Consumers, `{"username":"a","group_id":"g"}`, "consumer_groups/g/group_id"},
		{StreamRoutes, `{"upstream_id":"u","service_id":"s"}`, "upstreams/u/upstream_id services/s/service_id"},
		{Upstreams, `{"tls":{"client_cert_id":"c"}}`, "ssls/c/client_cert_id"},
		{Routes, `{"uri":"/a"}`, ""},
	}
	for _, tc := range tests {
		var parts []string
		for _, r := range References(tc.kind, decode(t, tc.obj)) {
			parts = append(parts, string(r.Kind)+"/"+r.ID+"/"+r.Field)
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("%s %s: got %q, want %q", tc.kind, tc.obj, got, tc.want)
		}
	}
}

// TestCheckConcurrent exercises the plugin schema cache from many goroutines (run with -race).
func TestCheckConcurrent(t *testing.T) {
	c := newTestChecker(t)
	errs := make(chan string, 32)
	for i := 0; i < 32; i++ {
		go func(i int) {
			obj := map[string]any{"uri": "/a", "plugins": map[string]any{"test-limit": map[string]any{"count": float64(i % 2)}}}
			err := c.Check(Routes, "1", obj)
			switch {
			case i%2 == 1 && err != nil:
				errs <- err.Error()
			case i%2 == 0 && err == nil:
				errs <- "count 0 accepted"
			default:
				errs <- ""
			}
		}(i)
	}
	for i := 0; i < 32; i++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
