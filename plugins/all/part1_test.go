package all

import (
	"slices"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// part1Plugins is the registration contract of part 1, from reference/plugins.md and
// reference/apisix.md §7: exact priorities, auth type, default list, stream and encrypted fields.
var part1Plugins = []struct {
	name      string
	priority  int
	typ       string
	enabled   bool
	stream    int // stream priority, 0 = not a stream plugin
	encrypted []string
}{
	{"real-ip", 23000, "", true, 0, nil},
	{"client-control", 22000, "", true, 0, nil},
	{"proxy-control", 21990, "", true, 0, nil},
	{"request-id", 12015, "", true, 0, nil},
	{"fault-injection", 11000, "", true, 0, nil},
	{"mocking", 10900, "", true, 0, nil},
	{"cors", 4000, "", true, 0, nil},
	{"ip-restriction", 3000, "", true, 3000, nil},
	{"ua-restriction", 2999, "", true, 0, nil},
	{"referer-restriction", 2990, "", true, 0, nil},
	{"csrf", 2980, "", true, 0, []string{"key"}},
	{"uri-blocker", 2900, "", true, 0, nil},
	{"multi-auth", 2600, "auth", true, 0, nil},
	{"hmac-auth", 2530, "auth", true, 0, []string{"secret_key"}},
	{"basic-auth", 2520, "auth", true, 0, []string{"password"}},
	{"jwt-auth", 2510, "auth", true, 0, []string{"secret"}},
	{"key-auth", 2500, "auth", true, 0, []string{"key"}},
	{"consumer-restriction", 2400, "", true, 0, nil},
	{"forward-auth", 2002, "", true, 0, nil},
	{"proxy-rewrite", 1008, "", true, 0, nil},
	{"brotli", 996, "", false, 0, nil},
	{"gzip", 995, "", true, 0, nil},
	{"redirect", 900, "", true, 0, nil},
	{"response-rewrite", 899, "", true, 0, nil},
	{"echo", 412, "", true, 0, nil},
	// Beyond plugins.md: the auth/security/transformation rows of apisix.md §7.
	{"exit-transformer", 22950, "", false, 0, nil},
	{"chaitin-waf", 2700, "", true, 0, nil},
	{"cas-auth", 2597, "", true, 0, []string{"cookie.secret"}},
	{"authz-casbin", 2560, "", true, 0, nil},
	{"authz-casdoor", 2559, "", true, 0, nil},
	{"wolf-rbac", 2555, "auth", true, 0, nil},
	{"ldap-auth", 2540, "auth", true, 0, nil},
	{"jwe-decrypt", 2509, "auth", true, 0, nil},
	{"acl", 2410, "", true, 0, nil},
	{"attach-consumer-label", 2399, "", true, 0, nil},
	{"opa", 2001, "", true, 0, nil},
	{"authz-keycloak", 2000, "", true, 0, nil},
	{"data-mask", 1500, "", true, 0, nil},
	{"body-transformer", 1080, "", true, 0, nil},
	{"degraphql", 509, "", true, 0, nil},
	{"grpc-transcode", 506, "", true, 0, nil},
	{"grpc-web", 505, "", true, 0, nil},
	{"error-page", 450, "", false, 0, nil},
}

func TestPart1Registered(t *testing.T) {
	for _, want := range part1Plugins {
		t.Run(want.name, func(t *testing.T) {
			d, ok := plugin.Lookup(want.name)
			if !ok {
				t.Fatalf("%s is not registered", want.name)
			}
			if d.Priority != want.priority {
				t.Errorf("priority = %d, want %d", d.Priority, want.priority)
			}
			if d.Type != want.typ {
				t.Errorf("type = %q, want %q", d.Type, want.typ)
			}
			if d.DefaultEnabled != want.enabled {
				t.Errorf("DefaultEnabled = %v, want %v", d.DefaultEnabled, want.enabled)
			}
			if d.Stream != (want.stream != 0) || d.StreamPriority != want.stream {
				t.Errorf("stream = %v/%d, want priority %d", d.Stream, d.StreamPriority, want.stream)
			}
			if !slices.Equal(d.EncryptFields, want.encrypted) {
				t.Errorf("EncryptFields = %q, want %q", d.EncryptFields, want.encrypted)
			}
			if d.Version != "0.1" {
				t.Errorf("version = %q, want 0.1", d.Version)
			}
			// An auth plugin's credentials live on consumers, so it needs a consumer schema
			// (multi-auth excepted: it borrows the credentials of its sub-plugins).
			if hasConsumer := len(d.ConsumerSchema) > 0; hasConsumer != (want.typ == "auth" && want.name != "multi-auth") {
				t.Errorf("has consumer schema = %v", hasConsumer)
			}
		})
	}
}

// TestPart1SchemasCompile compiles every schema a part-1 plugin registers, as the Admin API will.
func TestPart1SchemasCompile(t *testing.T) {
	for _, p := range part1Plugins {
		checkSchemasCompile(t, p.name)
	}
}

// part1Samples holds, per plugin and schema kind, a config taken from the plugin's APISIX docs
// (which must validate) and a config that breaks one constraint of the schema (which must not).
var part1Samples = []schemaSample{
	{"real-ip", "schema", `{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.0/24","::1"],"recursive":true}`,
		`{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.0/33"]}`},
	{"real-ip", "schema", `{"source":"arg_realip"}`, `{"trusted_addresses":["127.0.0.1"]}`},
	{"client-control", "schema", `{"max_body_size":1}`, `{"max_body_size":-1}`},
	{"proxy-control", "schema", `{"request_buffering":false}`, `{"request_buffering":"no"}`},
	{"request-id", "schema", `{"algorithm":"range_id","range_id":{"length":10,"char_set":"abcdefghijk"}}`,
		`{"algorithm":"snowflake"}`},
	{"request-id", "schema", `{"header_name":"X-Req-Id","include_in_response":false,"algorithm":"uuidv7"}`,
		`{"range_id":{"length":5}}`},
	{"fault-injection", "schema", `{"abort":{"http_status":200,"body":"Fault Injection!\n","vars":[[["arg_name","==","jack"]]]}}`,
		`{}`},
	{"fault-injection", "schema", `{"delay":{"duration":3,"percentage":50}}`, `{"abort":{"http_status":199}}`},
	{"fault-injection", "schema", `{"abort":{"http_status":403,"headers":{"X-Why":"$remote_addr","X-N":1}}}`,
		`{"delay":{"percentage":101,"duration":1}}`},
	{"mocking", "schema", `{"response_status":200,"response_example":"{\"a\":1}","content_type":"application/json"}`,
		`{"response_status":200}`},
	{"mocking", "schema", `{"response_schema":{"type":"object","properties":{"a":{"type":"string"}}},"response_headers":{"X-Mock":"yes"}}`,
		`{"response_example":"x","response_status":99}`},
	{"cors", "schema", `{"allow_origins":"http://example.com,https://example.org","allow_methods":"GET,POST","allow_headers":"*","max_age":3600,"allow_credential":false}`,
		`{"allow_origins":"example.com"}`},
	{"cors", "schema", `{"allow_origins_by_regex":[".*\\.test.com$"],"timing_allow_origins":"**"}`,
		`{"allow_origins_by_regex":[]}`},
	{"cors", "metadata", `{"allow_origins":{"key_1":"https://domain.com","key_2":"https://sub.domain.com,https://sub2.domain.com"}}`,
		`{"allow_origins":{"key_1":"domain.com"}}`},
	{"ip-restriction", "schema", `{"whitelist":["127.0.0.1","113.74.26.106/24","::1","fe80::/32"]}`,
		`{"whitelist":["127.0.0.1"],"blacklist":["10.0.0.1"]}`},
	{"ip-restriction", "schema", `{"blacklist":["10.0.0.1"],"message":"Do you want to do something bad?","response_code":404}`,
		`{"blacklist":["10.0.0.1"],"response_code":401}`},
	{"ip-restriction", "schema", `{"blacklist":["192.168.0.0/16"]}`, `{"blacklist":["not-an-ip"]}`},
	{"ua-restriction", "schema", `{"bypass_missing":true,"allowlist":["my-bot1","(Baiduspider)/(\\d+)\\.(\\d+)"]}`,
		`{"allowlist":["a"],"denylist":["b"]}`},
	{"ua-restriction", "schema", `{"denylist":["Twitterspider"],"message":"Do you want to do something bad?"}`,
		`{"denylist":[""]}`},
	{"referer-restriction", "schema", `{"bypass_missing":true,"whitelist":["xx.com","*.xx.com"]}`,
		`{"whitelist":["http://xx.com"]}`},
	{"referer-restriction", "schema", `{"blacklist":["*"],"message":"bye"}`, `{"message":"bye"}`},
	{"csrf", "schema", `{"key":"edd1c9f034335f136f87ad84b625c8f1"}`, `{"expires":3600}`},
	{"csrf", "schema", `{"key":"k","expires":3600,"name":"my-token"}`, `{"key":"k","expires":"soon"}`},
	{"uri-blocker", "schema", `{"block_rules":["root.exe","root.m+"],"rejected_code":403,"rejected_msg":"access is not allowed"}`,
		`{"block_rules":["a","a"]}`},
	{"uri-blocker", "schema", `{"block_rules":["^b"],"case_insensitive":true}`, `{"block_rules":["x"],"rejected_msg":""}`},
	{"multi-auth", "schema", `{"auth_plugins":[{"basic-auth":{}},{"key-auth":{"query":"apikey","hide_credentials":true,"header":"apikey"}}]}`,
		`{"auth_plugins":[{"basic-auth":{}}]}`},
	{"hmac-auth", "schema", `{}`, `{"allowed_algorithms":["hmac-md5"]}`},
	{"hmac-auth", "schema", `{"clock_skew":600,"signed_headers":["date","x-custom-a"],"validate_request_body":true,"realm":"my realm"}`,
		`{"clock_skew":0}`},
	{"hmac-auth", "consumer", `{"key_id":"john-key","secret_key":"john-secret-key"}`, `{"key_id":"john-key"}`},
	{"basic-auth", "schema", `{"hide_credentials":true,"anonymous_consumer":"anonymous"}`, `{"realm":"a\"b"}`},
	{"basic-auth", "consumer", `{"username":"johndoe","password":"john-key"}`, `{"username":"johndoe"}`},
	{"jwt-auth", "schema", `{"header":"jwt-header","query":"jwt-query","cookie":"jwt-cookie","claims_to_verify":["exp","nbf"]}`,
		`{"claims_to_verify":["iat"]}`},
	{"jwt-auth", "schema", `{"hide_credentials":true,"key_claim_name":"iss","store_in_ctx":true}`, `{"anonymous_consumer":""}`},
	{"jwt-auth", "consumer", `{"key":"jack-key","secret":"jack-hs256-secret-that-is-very-long"}`, `{"secret":"s"}`},
	{"jwt-auth", "consumer", `{"key":"jack-key","algorithm":"RS256","public_key":"-----BEGIN PUBLIC KEY-----\nMIIB...\n-----END PUBLIC KEY-----"}`,
		`{"key":"jack-key","algorithm":"RS256"}`},
	{"jwt-auth", "consumer", `{"key":"k","secret":"s","algorithm":"HS512","base64_secret":true,"lifetime_grace_period":10}`,
		`{"key":"k","secret":"s","algorithm":"HS1024"}`},
	{"key-auth", "schema", `{"header":"Authorization","hide_credentials":true,"anonymous_consumer":"anonymous"}`,
		`{"hide_credentials":"yes"}`},
	{"key-auth", "consumer", `{"key":"jack-key"}`, `{}`},
	{"consumer-restriction", "schema", `{"whitelist":["jack1"]}`, `{"rejected_code":403}`},
	{"consumer-restriction", "schema", `{"type":"consumer_group_id","blacklist":["company_a"],"rejected_code":403,"rejected_msg":"no"}`,
		`{"type":"consumer_id","blacklist":["a"]}`},
	{"consumer-restriction", "schema", `{"allowed_by_methods":[{"user":"jack1","methods":["POST","PURGE"]}]}`,
		`{"allowed_by_methods":[{"user":"jack1","methods":["FETCH"]}]}`},
	{"forward-auth", "schema", `{"uri":"http://127.0.0.1:9080/auth","request_headers":["Authorization"],"upstream_headers":["X-User-ID"],"client_headers":["Location"]}`,
		`{"request_headers":["Authorization"]}`},
	{"forward-auth", "schema", `{"uri":"http://auth","request_method":"POST","extra_headers":{"X-Client-IP":"$remote_addr"},"timeout":60000}`,
		`{"uri":"http://auth","request_method":"PUT"}`},
	{"forward-auth", "schema", `{"uri":"http://auth","status_on_error":503,"allow_degradation":true}`,
		`{"uri":"http://auth","timeout":60001}`},
	{"proxy-rewrite", "schema", `{"uri":"/test/home.html","host":"iresty.com","headers":{"set":{"X-Api-Version":"v1","X-Api-Engine":"apisix","X-Api-useless":""},"add":{"X-Request-ID":"112233"},"remove":["X-test"]}}`,
		`{}`},
	{"proxy-rewrite", "schema", `{"regex_uri":["^/iresty/(.*)/(.*)/(.*)","/$1_$2_$3"],"method":"POST"}`,
		`{"regex_uri":["^/only-one"]}`},
	{"proxy-rewrite", "schema", `{"headers":{"X-Api-Version":"v1","X-Count":3}}`, `{"uri":"no-leading-slash"}`},
	{"proxy-rewrite", "schema", `{"headers":{"add":{"X-Multi":["a","b",3]}}}`, `{"headers":{"add":{"X-Multi":[]}}}`},
	{"proxy-rewrite", "schema", `{"host":"example.com:8080","use_real_request_uri_unsafe":true}`,
		`{"host":"bad host"}`},
	{"response-rewrite", "schema", `{"body":"{\"code\":\"ok\",\"message\":\"new json body\"}","headers":{"set":{"X-Server-id":3,"X-Server-status":"on","X-Server-balancer-addr":"$balancer_ip:$balancer_port"}},"vars":[["status","==",200]]}`,
		`{"body":"x","filters":[{"regex":"a","replace":"b"}]}`},
	{"response-rewrite", "schema", `{"filters":[{"regex":"X-Amzn-Trace-Id","scope":"global","replace":"X-Amzn-Trace-Id-Replace"}]}`,
		`{"filters":[{"regex":"a"}]}`},
	{"response-rewrite", "schema", `{"status_code":404,"headers":{"add":["X-Server-id: 3"],"remove":["X-TO-BE-REMOVED"]}}`,
		`{"status_code":599}`},
	// APISIX's `add` pattern forbids a ':' in the value, so its docs' example
	// "X-Server-balancer-addr: $balancer_ip:$balancer_port" is rejected by APISIX too.
	{"response-rewrite", "schema", `{"headers":{"add":["X-Server-id: 3"]}}`,
		`{"headers":{"add":["X-Server-balancer-addr: $balancer_ip:$balancer_port"]}}`},
	{"redirect", "schema", `{"uri":"/test/default.html","ret_code":301}`, `{"uri":"/a","http_to_https":true}`},
	{"redirect", "schema", `{"regex_uri":["^/iresty/(.*)/(.*)/(.*)","/$1_$2_$3"]}`, `{"regex_uri":["^/iresty/(.*)"]}`},
	{"redirect", "schema", `{"http_to_https":true}`, `{"uri":"/"}`},
	{"redirect", "schema", `{"uri":"$uri/index.html","append_query_string":true,"encode_uri":true}`, `{"ret_code":302}`},
	{"echo", "schema", `{"before_body":"before the body modification "}`, `{"headers":{"Location":"https://www.iresty.com"}}`},
	{"echo", "schema", `{"body":"hello","after_body":"\n","headers":{"X-Echo":"1"}}`, `{"body":"x","headers":{}}`},
	{"gzip", "schema", `{"types":["text/html","application/json"],"min_length":20,"comp_level":6,"http_version":1.1,"buffers":{"number":32,"size":4096},"vary":true}`,
		`{"comp_level":10}`},
	{"gzip", "schema", `{"types":"*","http_version":1.0}`, `{"types":"text/html"}`},
	{"brotli", "schema", `{"types":"*","comp_level":11,"mode":1,"lgwin":24,"lgblock":16}`, `{"lgwin":9}`},
	{"brotli", "schema", `{"types":["text/plain"],"min_length":1}`, `{"mode":3}`},

	{"exit-transformer", "schema", `{"functions":["return 405, {message = 'x'}"]}`, `{"functions":"x"}`},
	{"chaitin-waf", "schema", `{"mode":"block","match":[{"vars":[["http_waf","==","true"]]}],"config":{"connect_timeout":1000}}`,
		`{"mode":"strict"}`},
	{"chaitin-waf", "metadata", `{"nodes":[{"host":"172.22.222.5","port":8000}],"mode":"block"}`, `{"nodes":[]}`},
	{"cas-auth", "schema", `{"idp_uri":"http://127.0.0.1:8080/realms/test/protocol/cas","cas_callback_uri":"/anything/cas_callback","logout_uri":"/anything/logout","cookie":{"secret":"0123456789abcdef0123456789abcdef"}}`,
		`{"idp_uri":"http://idp","cas_callback_uri":"/cb","logout_uri":"/logout","cookie":{"secret":"short"}}`},
	{"authz-casbin", "schema", `{"model_path":"/path/to/model.conf","policy_path":"/path/to/policy.csv","username":"user"}`,
		`{"model_path":"/m","policy_path":"/p","username":"u","extra":1}`},
	{"authz-casbin", "metadata", `{"model":"[request_definition]\nr = sub, obj, act","policy":"p, *, /, GET"}`, `{"model":"m"}`},
	{"authz-casdoor", "schema", `{"callback_url":"http://localhost:9080/anything/callback","endpoint_addr":"http://localhost:8000","client_id":"7ceb9b7fda4a9061ec1c","client_secret":"3416238e1edf915eac08b8fe345b2b95cdba7e04"}`,
		`{"callback_url":"http://localhost:9080/anything/callback/","endpoint_addr":"http://localhost:8000","client_id":"a","client_secret":"b"}`},
	{"wolf-rbac", "consumer", `{"appid":"restful","server":"http://127.0.0.1:12180","header_prefix":"X-"}`, `{"appid":1}`},
	{"ldap-auth", "schema", `{"base_dn":"ou=users,dc=example,dc=org","ldap_uri":"localhost:1389","uid":"cn"}`, `{"ldap_uri":"localhost:1389"}`},
	{"ldap-auth", "consumer", `{"user_dn":"cn=jack,ou=users,dc=example,dc=org"}`, `{}`},
	{"jwe-decrypt", "schema", `{"header":"Authorization","forward_header":"Authorization"}`, `{"strict":"yes"}`},
	{"jwe-decrypt", "consumer", `{"key":"jack-key","secret":"key-length-should-be-32-chars123"}`, `{"key":"jack-key","secret":"too-short"}`},
	{"acl", "schema", `{"allow_labels":{"org":["apache"]}}`, `{"rejected_code":403}`},
	{"acl", "schema", `{"deny_labels":{"team":["cloud"]},"external_user_label_field_parser":"segmented_text","external_user_label_field_separator":","}`,
		`{"deny_labels":{"team":["cloud"]},"external_user_label_field_parser":"segmented_text"}`},
	{"attach-consumer-label", "schema", `{"headers":{"X-Consumer-Department":"$department","X-Consumer-Company":"$company"}}`,
		`{"headers":{"X-Consumer-Department":"department"}}`},
	{"opa", "schema", `{"host":"http://127.0.0.1:8181","policy":"rbac","with_route":true}`, `{"host":"http://127.0.0.1:8181"}`},
	{"authz-keycloak", "schema", `{"token_endpoint":"http://127.0.0.1:8090/realms/quickstart-realm/protocol/openid-connect/token","client_id":"apisix-quickstart-client","permissions":["res#read"]}`,
		`{"token_endpoint":"http://kc/token"}`},
	{"authz-keycloak", "schema", `{"discovery":"http://kc/.well-known/uma2-configuration","client_id":"c","lazy_load_paths":true}`,
		`{"token_endpoint":"http://kc/token","client_id":"c","lazy_load_paths":true}`},
	{"data-mask", "schema", `{"request":[{"action":"remove","name":"password","type":"query"},{"action":"regex","name":"$.users[*].credit.card","regex":"(\\d+)\\-\\d+\\-\\d+\\-(\\d+)","type":"body","body_format":"json","value":"$1-****-****-$2"}]}`,
		`{"request":[{"action":"replace","name":"token","type":"header"}]}`},
	{"body-transformer", "schema", `{"request":{"template":"{\"name\":\"{{name}}\"}"},"response":{"input_format":"xml","template":"x"}}`,
		`{"max_req_body_size":1024}`},
	{"degraphql", "schema", `{"query":"query ($name: String!) { persons(filter: { name: $name }) { id } }","variables":["name"]}`,
		`{"variables":["name"]}`},
	{"grpc-transcode", "schema", `{"proto_id":"1","service":"helloworld.Greeter","method":"SayHello","pb_option":["int64_as_string","enum_as_value"]}`,
		`{"proto_id":"1","service":"helloworld.Greeter","method":"SayHello","pb_option":["int64_as_bigint"]}`},
	{"grpc-web", "schema", `{"strip_path":true}`, `{"enable_in_body_trailers_on_success":1}`},
	{"error-page", "metadata", `{"enable":true,"error_404":{"body":"<html>gone</html>","content_type":"text/html"}}`,
		`{"error_404":{"body":404}}`},
}

func TestPart1Samples(t *testing.T) {
	runSchemaSamples(t, part1Samples)
}

// TestPart1SamplesCoverEveryPlugin keeps the sample table honest: every part-1 plugin has at
// least one documented config that must pass and one broken config that must fail.
func TestPart1SamplesCoverEveryPlugin(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range part1Samples {
		covered[c.plugin] = true
	}
	for _, p := range part1Plugins {
		if !covered[p.name] {
			t.Errorf("%s has no sample configs", p.name)
		}
	}
}
