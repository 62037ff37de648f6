package admin

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/store"
)

func init() {
	register(
		suiteCase{"ReferencedObjectsMustExist", testReferencesExist},
		suiteCase{"DeleteInUse", testDeleteInUse},
		suiteCase{"CredentialUniqueness", testCredentialUniqueness},
		suiteCase{"DataEncryption", testDataEncryption},
		suiteCase{"PluginMetadata", testPluginMetadata},
		suiteCase{"ValidationErrors", testValidationErrors},
		suiteCase{"UpstreamUsedByPlugin", testUpstreamUsedByPlugin},
	)
}

func testReferencesExist(t *testing.T, st store.Store, prefix string) {
	needReferences(t)
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream_id":"u9"}`, 400,
			`{"error_msg":"failed to fetch upstream info by upstream id [u9], response code: 404"}`, true},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","service_id":"s9"}`, 400,
			`{"error_msg":"failed to fetch service info by service id [s9], response code: 404"}`, true},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugin_config_id":"p9","upstream":` + upstream1 + `}`, 400,
			`{"error_msg":"failed to fetch plugin config info by plugin config id [p9], response code: 404"}`, true},
		{"PUT", "/apisix/admin/services/1", `{"upstream_id":"u9"}`, 400,
			`{"error_msg":"failed to fetch upstream info by upstream id [u9], response code: 404"}`, true},
		{"PUT", "/apisix/admin/consumers", `{"username":"jack","group_id":"g9"}`, 400,
			`{"error_msg":"failed to fetch consumer group info by consumer group id [g9], response code: 404"}`, true},
		{"PUT", "/apisix/admin/stream_routes/1", `{"server_port":9100,"upstream_id":"u9"}`, 400,
			`{"error_msg":"failed to fetch upstream info by upstream id [u9], response code: 404"}`, true},
		{"PUT", "/apisix/admin/upstreams/u9", upstream1, 201, "", false},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream_id":"u9"}`, 201, "", false},
		// PATCH validates the merged result too.
		{"PATCH", "/apisix/admin/routes/1", `{"upstream_id":"u8"}`, 400,
			`{"error_msg":"failed to fetch upstream info by upstream id [u8], response code: 404"}`, true},
	})
}

func testDeleteInUse(t *testing.T, st store.Store, prefix string) {
	needReferences(t)
	e := newEnv(t, st, prefix)
	plugins := `{"limit-count":{"count":2,"time_window":60}}`
	e.steps([]step{
		{"PUT", "/apisix/admin/upstreams/1", upstream1, 201, "", false},
		{"PUT", "/apisix/admin/upstreams/2", upstream1, 201, "", false},
		{"PUT", "/apisix/admin/services/1", `{"upstream_id":"2"}`, 201, "", false},
		{"PUT", "/apisix/admin/plugin_configs/1", `{"plugins":` + plugins + `}`, 201, "", false},
		{"PUT", "/apisix/admin/consumer_groups/1", `{"plugins":` + plugins + `}`, 201, "", false},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream_id":"1","service_id":"1","plugin_config_id":"1"}`, 201, "", false},
		{"PUT", "/apisix/admin/consumers", `{"username":"jack","group_id":"1"}`, 201, "", false},

		{"DELETE", "/apisix/admin/upstreams/1", "", 400, `{"error_msg":"can not delete this upstream, route [1] is still using it now"}`, true},
		{"DELETE", "/apisix/admin/upstreams/2", "", 400, `{"error_msg":"can not delete this upstream, service [1] is still using it now"}`, true},
		{"DELETE", "/apisix/admin/services/1", "", 400, `{"error_msg":"can not delete this service directly, route [1] is still using it now"}`, true},
		{"DELETE", "/apisix/admin/plugin_configs/1", "", 400, `{"error_msg":"can not delete this plugin config, route [1] is still using it now"}`, true},
		{"DELETE", "/apisix/admin/consumer_groups/1", "", 400, `{"error_msg":"can not delete this consumer group, consumer [jack] is still using it now"}`, true},

		{"DELETE", "/apisix/admin/upstreams/1?force=true", "", 200, `{"deleted":"1","key":"{P}/upstreams/1"}`, true},
		{"DELETE", "/apisix/admin/consumer_groups/1?force=true", "", 200, "", false},
		{"DELETE", "/apisix/admin/routes/1", "", 200, "", false},
		{"DELETE", "/apisix/admin/services/1", "", 200, "", false},
		{"DELETE", "/apisix/admin/plugin_configs/1", "", 200, "", false},
		{"DELETE", "/apisix/admin/upstreams/2", "", 200, "", false},
	})
}

func testCredentialUniqueness(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/consumers", `{"username":"bob","plugins":{"key-auth":{"key":"k1"}}}`, 201, "", false},
		{"PUT", "/apisix/admin/consumers", `{"username":"bob","plugins":{"key-auth":{"key":"k1"}}}`, 200, "", false},
		{"PUT", "/apisix/admin/consumers", `{"username":"alice","plugins":{"key-auth":{"key":"k1"}}}`, 400,
			`{"error_msg":"duplicate key of plugin key-auth found with consumer: bob"}`, true},
		{"PUT", "/apisix/admin/consumers", `{"username":"alice"}`, 201, "", false},
		{"PUT", "/apisix/admin/consumers/alice/credentials/c1", `{"plugins":{"key-auth":{"key":"k1"}}}`, 400,
			`{"error_msg":"duplicate key of plugin key-auth found with consumer: bob"}`, true},
		{"PUT", "/apisix/admin/consumers/alice/credentials/c1", `{"plugins":{"key-auth":{"key":"k2"}}}`, 201, "", false},
		{"PUT", "/apisix/admin/consumers/alice/credentials/c1", `{"plugins":{"key-auth":{"key":"k2"}}}`, 200, "", false},
		{"PUT", "/apisix/admin/consumers/bob/credentials/c2", `{"plugins":{"key-auth":{"key":"k2"}}}`, 400,
			`{"error_msg":"duplicate key of plugin key-auth found with credential: c1 of consumer: alice"}`, true},
		{"PUT", "/apisix/admin/consumers", `{"username":"carol","plugins":{"basic-auth":{"username":"u","password":"p"}}}`, 201, "", false},
		{"PUT", "/apisix/admin/consumers", `{"username":"dave","plugins":{"basic-auth":{"username":"u","password":"q"}}}`, 400,
			`{"error_msg":"duplicate username of plugin basic-auth found with consumer: carol"}`, true},
		// The same key under another auth plugin is not a clash.
		{"PUT", "/apisix/admin/consumers", `{"username":"erin","plugins":{"jwt-auth":{"key":"k1","secret":"s3cr3t-s3cr3t-s3cr3t"}}}`, 201, "", false},
	})
}

func testDataEncryption(t *testing.T, st store.Store, prefix string) {
	ring := newKeyring(t)
	e := newEnv(t, st, prefix, func(o *Options) { o.Keyring = ring })
	e.expect(e.do("PUT", "/apisix/admin/consumers", `{"username":"bob","plugins":{"key-auth":{"key":"plain-key"}}}`), 201, "", false)
	kv, err := st.Get(context.Background(), prefix+"/consumers/bob")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(kv.Value), "plain-key") {
		t.Fatalf("stored in clear: %s", kv.Value)
	}
	e.expect(e.do("GET", "/apisix/admin/consumers/bob", ""), 200, `{"value":{"plugins":{"key-auth":{"key":"plain-key"}}}}`, false)
	// Uniqueness compares decrypted values.
	e.expect(e.do("PUT", "/apisix/admin/consumers", `{"username":"eve","plugins":{"key-auth":{"key":"plain-key"}}}`), 400,
		`{"error_msg":"duplicate key of plugin key-auth found with consumer: bob"}`, true)
	// PATCH merges in clear and stores encrypted once.
	e.expect(e.do("PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugins":{"key-auth":{}},"upstream":`+upstream1+`}`), 201, "", false)
	e.expect(e.do("PATCH", "/apisix/admin/routes/1", `{"desc":"d"}`), 200, "", false)
}

func testPluginMetadata(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/plugin_metadata/http-logger", `{"log_format":{"host":"$host"}}`, 201,
			`{"key":"{P}/plugin_metadata/http-logger","value":{"id":"http-logger","log_format":{"host":"$host"}}}`, false},
		{"PUT", "/apisix/admin/plugin_metadata/http-logger", `{"log_format":{"host":"$host"}}`, 200, "", false},
		{"PUT", "/apisix/admin/plugin_metadata/no-such-plugin", `{}`, 400, `{"error_msg":"invalid plugin name"}`, true},
		{"PUT", "/apisix/admin/plugin_metadata/cors", `{}`, 400, `{"error_msg":"invalid plugin name"}`, true},
		{"GET", "/apisix/admin/plugin_metadata/http-logger", "", 200, `{"value":{"log_format":{"host":"$host"}}}`, false},
		{"DELETE", "/apisix/admin/plugin_metadata/http-logger", "", 200, `{"deleted":"1","key":"{P}/plugin_metadata/http-logger"}`, true},
	})
}

func testValidationErrors(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/routes/1", `{"uri":1,"upstream":` + upstream1 + `}`, 400,
			`{"error_msg":"invalid configuration: property \"uri\" validation failed: wrong type: expected string, got number"}`, true},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","host":"a.com","hosts":["b.com"],"upstream":` + upstream1 + `}`, 400,
			`{"error_msg":"only one of host or hosts is allowed"}`, true},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","plugins":{"nope":{}},"upstream":` + upstream1 + `}`, 400,
			`{"error_msg":"unknown plugin [nope]"}`, true},
		{"PUT", "/apisix/admin/consumers", `{"desc":"x"}`, 400,
			`{"error_msg":"invalid configuration: property \"username\" is required"}`, true},
		// Validation comes before the consumer lookup, as in APISIX.
		{"PUT", "/apisix/admin/consumers/ghost/credentials/c1", `{"plugins":{"limit-count":{"count":1,"time_window":1}}}`, 400,
			`{"error_msg":"only supports auth type plugins in consumer credential"}`, true},
		{"GET", "/apisix/admin/routes/1", "", 404, `{"message":"Key not found"}`, true},
	})
}

func testUpstreamUsedByPlugin(t *testing.T, st store.Store, prefix string) {
	needReferences(t)
	e := newEnv(t, st, prefix)
	split := `{"traffic-split":{"rules":[{"weighted_upstreams":[{"upstream_id":"u1","weight":1},{"weight":1}]}]}}`
	e.steps([]step{
		{"PUT", "/apisix/admin/upstreams/u1", upstream1, 201, "", false},
		{"PUT", "/apisix/admin/routes/r1", `{"uri":"/a","plugins":` + split + `,"upstream":` + upstream1 + `}`, 201, "", false},
		{"DELETE", "/apisix/admin/upstreams/u1", "", 400,
			`{"error_msg":"can not delete this upstream, plugin in route [r1] is still using it now"}`, true},
		{"DELETE", "/apisix/admin/routes/r1", "", 200, "", false},
		{"PUT", "/apisix/admin/global_rules/g1", `{"plugins":` + split + `}`, 201, "", false},
		{"DELETE", "/apisix/admin/upstreams/u1", "", 400,
			`{"error_msg":"can not delete this upstream, plugin in global_rules [g1] is still using it now"}`, true},
		{"DELETE", "/apisix/admin/upstreams/u1?force=true", "", 200, "", false},
	})
}
