package all

import (
	"slices"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// part3Plugin is the registration contract of one part-3 plugin: priority and default list from
// reference/apisix.md §7, type, version, scope and encrypted fields from the plugin's Lua module.
type part3Plugin struct {
	name      string
	priority  int
	typ       string
	version   string
	disabled  bool // not in APISIX's default `plugins` list
	scope     string
	consumer  bool // has a consumer schema
	metadata  bool // has a plugin_metadata schema
	encrypted []string
}

var part3Plugins = []part3Plugin{
	{name: "proxy-buffering", priority: 21991},
	{name: "batch-requests", priority: 4010, disabled: true, metadata: true},
	{name: "openid-connect", priority: 2599, version: "0.2", encrypted: []string{
		"client_secret", "client_rsa_private_key", "dpop.private_key", "session.secret",
		"session.redis.password", "backchannel_logout.redis.password"}},
	{name: "saml-auth", priority: 2598},
	{name: "ldap-auth-advanced", priority: 2541, typ: "auth", consumer: true},
	{name: "dingtalk-auth", priority: 2430, encrypted: []string{"app_secret", "secret", "secret_fallbacks"}},
	{name: "feishu-auth", priority: 2420, encrypted: []string{"app_secret", "secret", "secret_fallbacks"}},
	{name: "error-log-logger", priority: 1091, disabled: true, scope: "global", metadata: true,
		encrypted: []string{"clickhouse.password"}},
	{name: "ai-request-rewrite", priority: 1073},
	{name: "ai-prompt-guard", priority: 1072},
	{name: "ai-prompt-template", priority: 1071},
	{name: "ai-prompt-decorator", priority: 1070},
	{name: "ai-rag", priority: 1060},
	{name: "ai-proxy-multi", priority: 1041, version: "0.5", encrypted: []string{
		"instances.auth.header", "instances.auth.query", "instances.auth.gcp.service_account_json",
		"instances.auth.aws.secret_access_key", "instances.auth.aws.session_token"}},
	{name: "ai-proxy", priority: 1040, version: "0.5", encrypted: []string{
		"auth.header", "auth.query", "auth.gcp.service_account_json",
		"auth.aws.secret_access_key", "auth.aws.session_token"}},
	{name: "ai-cache", priority: 1035, encrypted: []string{"redis_password"}},
	{name: "ai-aws-content-moderation", priority: 1031},
	{name: "ai-rate-limiting", priority: 1030, encrypted: []string{"redis_password", "sentinel_password"}},
	{name: "ai-aliyun-content-moderation", priority: 1029, encrypted: []string{"access_key_secret"}},
	{name: "ai-lakera-guard", priority: 1028, encrypted: []string{"api_key"}},
	{name: "graphql-proxy-cache", priority: 1009},
	{name: "graphql-limit-count", priority: 1004, encrypted: []string{"redis_password", "sentinel_password"}},
	{name: "traffic-label", priority: 967},
	{name: "oas-validator", priority: 512, metadata: true},
	{name: "mcp-bridge", priority: 510},
	{name: "kafka-proxy", priority: 508, encrypted: []string{"sasl.password"}},
	{name: "dubbo-proxy", priority: 507, disabled: true},
	{name: "http-dubbo", priority: 504},
	{name: "lago", priority: 415},
	{name: "google-cloud-logging", priority: 407, metadata: true, encrypted: []string{"auth_config.private_key"}},
	{name: "rocketmq-logger", priority: 402, metadata: true, encrypted: []string{"secret_key"}},
	{name: "inspect", priority: 200},
	{name: "log-rotate", priority: 100, disabled: true, scope: "global"},
	{name: "aws-lambda", priority: -1899},
	{name: "azure-functions", priority: -1900, metadata: true},
	{name: "openwhisk", priority: -1901},
	{name: "openfunction", priority: -1902},
}

func TestPart3Registered(t *testing.T) {
	for _, want := range part3Plugins {
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
			version := want.version
			if version == "" {
				version = "0.1"
			}
			if d.Version != version {
				t.Errorf("version = %q, want %q", d.Version, version)
			}
			if d.DefaultEnabled == want.disabled {
				t.Errorf("default enabled = %v, want %v", d.DefaultEnabled, !want.disabled)
			}
			if d.Stream || d.StreamPriority != 0 {
				t.Errorf("stream = %v/%d, want none", d.Stream, d.StreamPriority)
			}
			if d.Scope != want.scope {
				t.Errorf("scope = %q, want %q", d.Scope, want.scope)
			}
			if (len(d.ConsumerSchema) > 0) != want.consumer {
				t.Errorf("has consumer schema = %v, want %v", len(d.ConsumerSchema) > 0, want.consumer)
			}
			if (len(d.MetadataSchema) > 0) != want.metadata {
				t.Errorf("has metadata schema = %v, want %v", len(d.MetadataSchema) > 0, want.metadata)
			}
			if !slices.Equal(d.EncryptFields, want.encrypted) {
				t.Errorf("encrypt fields = %q, want %q", d.EncryptFields, want.encrypted)
			}
		})
	}
}

// TestPart3SchemasCompile compiles every schema of every part-3 plugin as draft-07, so a typo or a
// pattern RE2 cannot compile fails here rather than at the first Admin API write.
func TestPart3SchemasCompile(t *testing.T) {
	for _, p := range part3Plugins {
		checkSchemasCompile(t, p.name)
	}
}

// part3Samples holds, per plugin and schema kind, a config from the plugin's APISIX docs or tests
// (which must validate) and one that breaks a single constraint of the schema (which must not).
var part3Samples = []schemaSample{
	{"proxy-buffering", "schema", `{"disable_proxy_buffering":true}`, `{"disable_proxy_buffering":true,"x":1}`},
	{"batch-requests", "schema", `{}`, `{"max_body_size":1}`},
	{"batch-requests", "metadata", `{"max_body_size":2048}`, `{"max_body_size":0}`},
	{"openid-connect", "schema", `{"client_id":"apisix","client_secret":"secret","discovery":"https://idp/.well-known/openid-configuration","scope":"openid profile","bearer_only":false,"realm":"master","redirect_uri":"http://127.0.0.1:9080/anything/callback","session":{"secret":"0123456789abcdef"}}`,
		`{"client_id":"apisix","client_secret":"secret"}`},
	{"openid-connect", "schema", `{"client_id":"c","discovery":"https://idp/.well-known/openid-configuration","bearer_only":true,"use_jwks":true,"claim_validator":{"audience":{"required":true,"match_with_client_id":true}}}`,
		`{"client_id":"c","discovery":"d","unauth_action":"redirect"}`},
	{"openid-connect", "schema", `{"client_id":"c","discovery":"d","session":{"secret":"0123456789abcdef","storage":"redis","redis":{"host":"127.0.0.1"}}}`,
		`{"client_id":"c","discovery":"d","session":{"secret":"0123456789abcdef","storage":"redis"}}`},
	{"openid-connect", "schema", `{"client_id":"c","discovery":"d","dpop":{"enabled":false},"par":{"enabled":true,"endpoint_auth_method":"private_key_jwt"}}`,
		`{"client_id":"c","discovery":"d","dpop":{"enabled":true,"private_key":"k","public_jwk":{"kty":"EC","d":"secret"}}}`},
	{"openid-connect", "schema", `{"client_id":"c","discovery":"d","introspection_addon_headers":["X-Tenant"]}`,
		`{"client_id":"c","discovery":"d","session":{"secret":"short"}}`},
	{"saml-auth", "schema", `{"sp_issuer":"https://sp.example.com","idp_uri":"https://idp/saml","idp_cert":"CERT","login_callback_uri":"/login/callback","logout_uri":"/logout","logout_callback_uri":"/logout/callback","logout_redirect_uri":"/logout/ok","sp_cert":"CERT","sp_private_key":"KEY"}`,
		`{"sp_issuer":"https://sp.example.com","idp_uri":"https://idp/saml"}`},
	{"ldap-auth-advanced", "schema", `{"ldap_uri":"127.0.0.1:1389","user_dn_template":"cn=%s,ou=users,dc=example,dc=org","use_starttls":false}`,
		`{"ldap_uri":"127.0.0.1:1389"}`},
	{"ldap-auth-advanced", "consumer", `{"group_dn":"cn=admins,ou=groups,dc=example,dc=org"}`,
		`{"user_dn":"cn=a","group_dn":"cn=b"}`},
	{"dingtalk-auth", "schema", `{"app_key":"key","app_secret":"secret","secret":"my-session-secret","redirect_uri":"https://login.dingtalk.com/oauth2/auth"}`,
		`{"app_key":"key","app_secret":"secret","secret":"short","redirect_uri":"https://x"}`},
	{"feishu-auth", "schema", `{"app_id":"cli_a","app_secret":"secret","secret":"my-session-secret","auth_redirect_uri":"http://127.0.0.1:9080/cb","redirect_uri":"https://accounts.feishu.cn/open-apis/authen/v1/authorize"}`,
		`{"app_id":"cli_a","app_secret":"secret","secret":"my-session-secret","redirect_uri":"https://x"}`},
	{"error-log-logger", "schema", `{}`, `{"host":"127.0.0.1"}`},
	{"error-log-logger", "metadata", `{"tcp":{"host":"127.0.0.1","port":1999},"inactive_timeout":1,"level":"ERROR"}`,
		`{"tcp":{"host":"127.0.0.1","port":1999},"level":"TRACE"}`},
	{"error-log-logger", "metadata", `{"clickhouse":{"endpoint_addr":"http://127.0.0.1:8123","user":"default","password":"a","database":"default","logtable":"t"}}`,
		`{"level":"WARN"}`},
	{"error-log-logger", "metadata", `{"kafka":{"brokers":[{"host":"127.0.0.1","port":9092}],"kafka_topic":"test2"}}`,
		`{"kafka":{"brokers":[{"host":"127.0.0.1","port":9092}]}}`},
	{"ai-request-rewrite", "schema", `{"prompt":"Given a JSON request body, mask any PII","provider":"openai","auth":{"header":{"Authorization":"Bearer key"}},"options":{"model":"gpt-4"}}`,
		`{"prompt":"p","provider":"openai","auth":{"cookie":{"a":"b"}}}`},
	{"ai-prompt-guard", "schema", `{"deny_patterns":["(?i)password","credit card"],"match_all_roles":true}`,
		`{"allow_patterns":"all"}`},
	{"ai-prompt-template", "schema", `{"templates":[{"name":"QnA with complexity","template":{"model":"gpt-4","messages":[{"role":"system","content":"Answer in {{complexity}}."},{"role":"user","content":"Explain {{prompt}}."}]}}]}`,
		`{"templates":[{"name":"t","template":{"messages":[{"role":"robot","content":"x"}]}}]}`},
	{"ai-prompt-decorator", "schema", `{"prepend":[{"role":"system","content":"Answer briefly."}],"append":[{"role":"system","content":"End with a summary."}]}`,
		`{}`},
	{"ai-rag", "schema", `{"embeddings_provider":{"azure-openai":{"endpoint":"https://x.openai.azure.com/openai/deployments/e/embeddings?api-version=2023-05-15","api_key":"k"}},"vector_search_provider":{"azure-ai-search":{"endpoint":"https://s.search.windows.net/indexes/i/docs/search?api-version=2024-07-01","api_key":"k","fields":"contentVector","select":"content"}},"rerank_provider":{"cohere":{"api_key":"k","model":"rerank-v3.5"}}}`,
		`{"embeddings_provider":{"openai":{"endpoint":"https://api.openai.com/v1/embeddings","api_key":"k"},"azure-openai":{"endpoint":"e","api_key":"k"}},"vector_search_provider":{"azure-ai-search":{"endpoint":"e","api_key":"k","fields":"f","select":"s"}}}`},
	{"ai-proxy-multi", "schema", `{"instances":[{"name":"openai-instance","provider":"openai","weight":8,"auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"gpt-4"}},{"name":"deepseek-instance","provider":"deepseek","weight":2,"auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"deepseek-chat"}}],"fallback_strategy":["http_429","http_5xx"]}`,
		`{"instances":[{"name":"a","provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}}]}`},
	{"ai-proxy-multi", "schema", `{"balancer":{"algorithm":"chash","hash_on":"consumer"},"instances":[{"name":"v","provider":"vertex-ai","weight":1,"auth":{"gcp":{"service_account_json":"{}"}},"provider_conf":{"project_id":"p","region":"us-central1"},"checks":{"active":{"type":"https","http_path":"/health"}}}]}`,
		`{"instances":[{"name":"v","provider":"vertex-ai","weight":1,"auth":{"gcp":{}}}]}`},
	{"ai-proxy", "schema", `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"gpt-4"},"override":{"endpoint":"http://127.0.0.1:6724/v1/chat/completions"}}`,
		`{"provider":"gpt","auth":{"header":{"Authorization":"Bearer k"}}}`},
	{"ai-proxy", "schema", `{"provider":"bedrock","auth":{"aws":{"access_key_id":"AKIA","secret_access_key":"s"}},"provider_conf":{"region":"us-east-1"},"options":{"model":"anthropic.claude-3-5-sonnet-20240620-v1:0"}}`,
		`{"provider":"bedrock","auth":{"aws":{"access_key_id":"AKIA","secret_access_key":"s"}},"provider_conf":{"region":"us-east-1"}}`},
	{"ai-cache", "schema", `{"policy":"redis","redis_host":"127.0.0.1","exact":{"ttl":600}}`,
		`{"policy":"redis"}`},
	{"ai-cache", "schema", `{"policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:7000"],"redis_cluster_name":"c"}`,
		`{"policy":"memcached","redis_host":"127.0.0.1"}`},
	{"ai-aws-content-moderation", "schema", `{"comprehend":{"access_key_id":"a","secret_access_key":"s","region":"us-east-1"},"moderation_categories":{"PROFANITY":0.5},"moderation_threshold":0.7}`,
		`{"comprehend":{"access_key_id":"a","secret_access_key":"s","region":"us-east-1"},"moderation_categories":{"SPAM":0.5}}`},
	{"ai-rate-limiting", "schema", `{"instances":[{"name":"deepseek-instance","limit":20,"time_window":60}],"limit_strategy":"total_tokens"}`,
		`{"limit":100}`},
	{"ai-rate-limiting", "schema", `{"limit":300,"time_window":30,"policy":"redis","redis_host":"127.0.0.1","rejected_code":429}`,
		`{"limit":300,"time_window":30,"policy":"redis"}`},
	{"ai-aliyun-content-moderation", "schema", `{"endpoint":"https://green-cip.cn-shanghai.aliyuncs.com","region_id":"cn-shanghai","access_key_id":"id","access_key_secret":"secret","check_response":true,"deny_code":400}`,
		`{"endpoint":"https://green-cip.cn-shanghai.aliyuncs.com","region_id":"cn-shanghai","access_key_id":"id","access_key_secret":"secret","risk_level_bar":"severe"}`},
	{"ai-lakera-guard", "schema", `{"api_key":"lk-key","action":"alert","project_id":"project-123","fail_open":true}`,
		`{"api_key":"lk-key","lakera_endpoint":"ftp://api.lakera.ai"}`},
	{"graphql-proxy-cache", "schema", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_ttl":60}`,
		`{"cache_strategy":"redis"}`},
	{"graphql-limit-count", "schema", `{"count":2,"time_window":60,"rejected_code":503,"key_type":"var","key":"remote_addr"}`,
		`{"count":2}`},
	{"traffic-label", "schema", `{"rules":[{"match":[["uri","==","/headers"]],"actions":[{"set_headers":{"X-Server-Id":"100"},"weight":3},{"weight":7}]}]}`,
		`{"rules":[{"match":[["uri","==","/headers"]]}]}`},
	{"oas-validator", "schema", `{"spec":"{\"openapi\":\"3.0.2\",\"paths\":{}}","verbose_errors":true,"rejection_status_code":422}`,
		`{"spec":"{}","spec_url":"https://example.com/openapi.json"}`},
	{"oas-validator", "schema", `{"spec_url":"https://petstore3.swagger.io/api/v3/openapi.json","spec_url_request_headers":{"Authorization":"Bearer t"}}`,
		`{"spec_url":"file:///etc/openapi.json"}`},
	{"oas-validator", "metadata", `{"spec_url_ttl":600}`, `{"spec_url_ttl":0}`},
	{"mcp-bridge", "schema", `{"base_uri":"/mcp","command":"npx","args":["-y","@modelcontextprotocol/server-filesystem","/"]}`,
		`{"base_uri":"/mcp","args":["-y"]}`},
	{"kafka-proxy", "schema", `{"sasl":{"username":"user","password":"pwd"}}`, `{"sasl":{"username":"user"}}`},
	{"dubbo-proxy", "schema", `{"service_name":"org.apache.dubbo.sample.tengine.DemoService","service_version":"0.0.0","method":"tengineDubbo"}`,
		`{"service_name":"org.apache.dubbo.sample.tengine.DemoService","service_version":"latest"}`},
	{"http-dubbo", "schema", `{"service_name":"org.apache.dubbo.backend.DubboSerializationTestService","params_type_desc":"Ljava/lang/String;","serialized":true,"method":"testPoJo","service_version":"1.0.0"}`,
		`{"service_name":"org.apache.dubbo.backend.DemoService"}`},
	{"lago", "schema", `{"endpoint_addrs":["https://api.getlago.com"],"token":"t","event_transaction_id":"${request_id}","event_subscription_id":"${http_x_consumer_username}","event_code":"test","batch_max_size":1}`,
		`{"endpoint_addrs":["api.getlago.com"],"token":"t","event_transaction_id":"a","event_subscription_id":"b","event_code":"c"}`},
	{"google-cloud-logging", "schema", `{"auth_config":{"project_id":"apisix","client_email":"a@apisix.iam.gserviceaccount.com","private_key":"-----BEGIN RSA PRIVATE KEY-----","token_uri":"http://127.0.0.1:1980/google/logging/token"},"inactive_timeout":2}`,
		`{"resource":{"type":"global"}}`},
	{"google-cloud-logging", "schema", `{"auth_file":"/path/to/apache-apisix.json","resource":{"type":"global"},"log_id":"syslog"}`,
		`{"auth_file":"/a.json","auth_config":{"project_id":"p","client_email":"e","private_key":"k","token_uri":"u"}}`},
	{"google-cloud-logging", "metadata", `{"log_format":{"host":"$host","client_ip":"$remote_addr"}}`, `{"max_pending_entries":0}`},
	{"rocketmq-logger", "schema", `{"nameserver_list":["127.0.0.1:9876"],"topic":"test2","key":"key1","tag":"tag1","batch_max_size":1}`,
		`{"nameserver_list":[],"topic":"test2"}`},
	{"rocketmq-logger", "schema", `{"nameserver_list":["127.0.0.1:9876"],"topic":"t","meta_format":"origin","use_tls":true,"access_key":"ak","secret_key":"sk"}`,
		`{"nameserver_list":["127.0.0.1:9876"],"topic":"t","meta_format":"raw"}`},
	{"rocketmq-logger", "metadata", `{"log_format":{"host":"$host"},"max_pending_entries":10}`, `{"log_format":"$host"}`},
	{"inspect", "schema", `{}`, `"on"`},
	{"log-rotate", "schema", `{}`, `[]`},
	{"aws-lambda", "schema", `{"function_uri":"https://x.execute-api.us-east-1.amazonaws.com/default/fn","authorization":{"apikey":"k"},"ssl_verify":false}`,
		`{"authorization":{"apikey":"k"}}`},
	{"aws-lambda", "schema", `{"function_uri":"https://x.execute-api.us-east-1.amazonaws.com/default/fn","authorization":{"iam":{"accesskey":"a","secretkey":"s","aws_region":"us-west-2"}}}`,
		`{"function_uri":"https://x","authorization":{"iam":{"accesskey":"a"}}}`},
	{"azure-functions", "schema", `{"function_uri":"http://test-apisix.azurewebsites.net/api/HttpTrigger","authorization":{"apikey":"k"},"timeout":3000}`,
		`{"function_uri":"http://f","timeout":50}`},
	{"azure-functions", "metadata", `{"master_apikey":"k","master_clientid":"c"}`, `{"master_apikey":1}`},
	{"openwhisk", "schema", `{"api_host":"http://localhost:3233","service_token":"user:key","namespace":"guest","action":"test-params"}`,
		`{"api_host":"http://localhost:3233","service_token":"user:key","namespace":"guest","action":"a/b"}`},
	{"openfunction", "schema", `{"function_uri":"http://localhost:3233/default/function-sample/test","authorization":{"service_token":"test:test"}}`,
		`{"function_uri":"http://localhost:3233","authorization":{"service_token":1}}`},
}

func TestPart3Samples(t *testing.T) {
	runSchemaSamples(t, part3Samples)
}

// TestPart3SamplesCoverEveryPlugin keeps the sample table honest: every part-3 plugin has a
// good/bad pair for each schema it registers.
func TestPart3SamplesCoverEveryPlugin(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range part3Samples {
		covered[c.plugin+"/"+c.kind] = true
	}
	for _, p := range part3Plugins {
		d, ok := plugin.Lookup(p.name)
		if !ok {
			t.Errorf("%s is not registered", p.name)
			continue
		}
		for kind := range pluginSchemas(d) {
			if !covered[p.name+"/"+kind] {
				t.Errorf("%s: no sample for its %s schema", p.name, kind)
			}
		}
	}
}
