package all

import (
	"slices"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// part2Plugin is the registration contract of one part-2 plugin, from reference/plugins.md and
// reference/apisix.md §7 (priorities, default list, stream priorities, scope, encrypted fields).
type part2Plugin struct {
	name      string
	priority  int
	typ       string
	enabled   bool
	stream    int // stream priority, 0 = not a stream plugin
	scope     string
	metadata  bool // has a plugin_metadata schema
	encrypted []string
}

var part2Plugins = []part2Plugin{
	{name: "zipkin", priority: 12011, enabled: true},
	{name: "opentelemetry", priority: 12009, metadata: true},
	{name: "ext-plugin-pre-req", priority: 12000, enabled: true},
	{name: "serverless-pre-function", priority: 10000, enabled: true},
	{name: "request-validation", priority: 2800, typ: "validation", enabled: true},
	{name: "proxy-cache", priority: 1085, enabled: true},
	{name: "proxy-mirror", priority: 1010, enabled: true},
	{name: "workflow", priority: 1006, enabled: true},
	{name: "api-breaker", priority: 1005, enabled: true},
	{name: "limit-conn", priority: 1003, enabled: true, stream: 1003, encrypted: []string{"redis_password"}},
	{name: "limit-count", priority: 1002, enabled: true, metadata: true, encrypted: []string{"redis_password", "sentinel_password"}},
	{name: "limit-req", priority: 1001, enabled: true, encrypted: []string{"redis_password"}},
	{name: "node-status", priority: 1000, scope: "global"},
	{name: "server-info", priority: 990, scope: "global"},
	{name: "traffic-split", priority: 966, enabled: true, stream: 966},
	{name: "public-api", priority: 501, enabled: true},
	{name: "prometheus", priority: 500, enabled: true, stream: 500, metadata: true},
	{name: "loki-logger", priority: 414, enabled: true, metadata: true, encrypted: []string{"headers"}},
	{name: "elasticsearch-logger", priority: 413, enabled: true, metadata: true, encrypted: []string{"auth.password", "headers"}},
	{name: "http-logger", priority: 410, enabled: true, metadata: true, encrypted: []string{"auth_header"}},
	{name: "tcp-logger", priority: 405, enabled: true, metadata: true},
	{name: "kafka-logger", priority: 403, enabled: true, metadata: true, encrypted: []string{"brokers.sasl_config.password"}},
	{name: "syslog", priority: 401, enabled: true, stream: 401, metadata: true},
	{name: "udp-logger", priority: 400, enabled: true, metadata: true},
	{name: "file-logger", priority: 399, enabled: true, metadata: true},
	{name: "serverless-post-function", priority: -2000, enabled: true},
	{name: "ext-plugin-post-req", priority: -3000, enabled: true},
	{name: "ext-plugin-post-resp", priority: -4000, enabled: true},

	// The rest of reference/apisix.md §7 in these categories.
	{name: "skywalking", priority: 12010},
	{name: "datadog", priority: 495, enabled: true, metadata: true},
	{name: "loggly", priority: 411, enabled: true, metadata: true},
	{name: "splunk-hec-logging", priority: 409, enabled: true, metadata: true, encrypted: []string{"endpoint.token"}},
	{name: "skywalking-logger", priority: 408, enabled: true, metadata: true},
	{name: "sls-logger", priority: 406, enabled: true},
	{name: "clickhouse-logger", priority: 398, enabled: true, metadata: true, encrypted: []string{"password"}},
	{name: "tencent-cloud-cls", priority: 397, enabled: true, metadata: true, encrypted: []string{"secret_key"}},
}

func TestPart2Registered(t *testing.T) {
	for _, want := range part2Plugins {
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
				t.Errorf("default enabled = %v, want %v", d.DefaultEnabled, want.enabled)
			}
			if d.Stream != (want.stream != 0) || d.StreamPriority != want.stream {
				t.Errorf("stream = %v/%d, want stream priority %d", d.Stream, d.StreamPriority, want.stream)
			}
			if d.Scope != want.scope {
				t.Errorf("scope = %q, want %q", d.Scope, want.scope)
			}
			if (len(d.MetadataSchema) > 0) != want.metadata {
				t.Errorf("has metadata schema = %v, want %v", len(d.MetadataSchema) > 0, want.metadata)
			}
			if len(d.ConsumerSchema) > 0 {
				t.Errorf("non-auth plugin has a consumer schema")
			}
			if !slices.Equal(d.EncryptFields, want.encrypted) {
				t.Errorf("encrypt fields = %q, want %q", d.EncryptFields, want.encrypted)
			}
		})
	}
}

// TestPart2SchemasCompile compiles every schema of every part-2 plugin, so a typo in an embedded
// file, or a pattern RE2 cannot compile, fails here rather than at the first Admin API write.
func TestPart2SchemasCompile(t *testing.T) {
	for _, p := range part2Plugins {
		checkSchemasCompile(t, p.name)
	}
}

// part2Samples holds, per plugin and schema kind, a config taken from the plugin's APISIX docs or
// tests (which must validate) and one that breaks a single constraint (which must not).
var part2Samples = []schemaSample{
	{"proxy-cache", "schema", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_ttl":10}`,
		`{"cache_method":["PUT"]}`},
	{"proxy-cache", "schema", `{"cache_key":["$host","$request_uri"],"cache_bypass":["$arg_bypass"],"no_cache":["$arg_test"]}`,
		`{"cache_key":["$request-uri"]}`},
	{"proxy-mirror", "schema", `{"host":"http://127.0.0.1:1986","path":"/a","path_concat_mode":"prefix","sample_ratio":0.5}`,
		`{"host":"127.0.0.1:1986"}`},
	{"proxy-mirror", "schema", `{"host":"grpc://[::1]:50051"}`, `{"host":"http://127.0.0.1:1986/path"}`},
	{"api-breaker", "schema", `{"break_response_code":502,"unhealthy":{"http_statuses":[500,503],"failures":3},"healthy":{"http_statuses":[200],"successes":1}}`,
		`{"break_response_code":502,"unhealthy":{"http_statuses":[404]}}`},
	{"api-breaker", "schema", `{"break_response_code":502,"break_response_body":"down","break_response_headers":[{"key":"X-A","value":"$remote_addr"}]}`,
		`{"max_breaker_sec":300}`},
	{"limit-conn", "schema", `{"conn":1,"burst":0,"default_conn_delay":0.1,"rejected_code":503,"key_type":"var","key":"remote_addr"}`,
		`{"conn":1,"burst":0,"key":"remote_addr"}`},
	{"limit-conn", "schema", `{"default_conn_delay":0.1,"rules":[{"conn":"$http_conn","burst":1,"key":"$remote_addr"}]}`,
		`{"conn":0,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}`},
	{"limit-conn", "schema", `{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","key_ttl":60}`,
		`{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","policy":"redis"}`},
	{"limit-count", "schema", `{"count":2,"time_window":60,"rejected_code":503,"key_type":"var","key":"remote_addr"}`,
		`{"count":2,"time_window":60,"rules":[{"count":1,"time_window":1,"key":"$remote_addr"}]}`},
	{"limit-count", "schema", `{"rules":[{"count":"${http_count ?? 5}","time_window":10,"key":"${http_user}","header_prefix":"user"}],"window_type":"sliding"}`,
		`{"rules":[{"count":1,"time_window":1}]}`},
	{"limit-count", "schema", `{"count":2,"time_window":60,"policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:5000"],"redis_cluster_name":"c"}`,
		`{"count":2,"time_window":60,"policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:5000"]}`},
	{"limit-count", "schema", `{"count":2,"time_window":60,"policy":"redis-sentinel","redis_sentinels":[{"host":"127.0.0.1","port":26379}],"redis_master_name":"mymaster"}`,
		`{"count":2,"time_window":60,"policy":"redis-sentinel","redis_master_name":"mymaster"}`},
	{"limit-count", "metadata", `{"limit_header":"X-Limit-Quota","remaining_header":"X-Limit-Remaining","reset_header":"X-Limit-Reset"}`,
		`{"limit_header":1}`},
	{"limit-req", "schema", `{"rate":1,"burst":0,"key":"remote_addr","rejected_code":503,"key_type":"var"}`,
		`{"rate":0,"burst":0,"key":"remote_addr"}`},
	{"limit-req", "schema", `{"rate":1,"burst":2,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","redis_port":6379}`,
		`{"rate":1,"burst":2,"key":"remote_addr","policy":"redis","redis_host":"1"}`},
	{"traffic-split", "schema", `{"rules":[{"weighted_upstreams":[{"upstream":{"name":"upstream_A","type":"roundrobin","nodes":{"127.0.0.1:1981":10},"timeout":{"connect":15,"send":15,"read":15}},"weight":30},{"weight":70}]}]}`,
		`{"rules":[{"weighted_upstreams":[{"upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1981":10},"timeout":{"connect":15,"send":15}}}]}]}`},
	{"traffic-split", "schema", `{"rules":[{"match":[{"vars":[["arg_name","==","jack"]]}],"weighted_upstreams":[{"upstream_id":"1","weight":1}]}]}`,
		`{"rules":[{"weighted_upstreams":[{"upstream_id":"1","weight":-1}]}]}`},
	{"request-validation", "schema", `{"body_schema":{"type":"object","required":["required_payload"],"properties":{"required_payload":{"type":"string"}}},"rejected_msg":"customize reject message"}`,
		`{"rejected_code":400}`},
	{"workflow", "schema", `{"rules":[{"case":[["uri","==","/hello/rejected"]],"actions":[["return",{"code":403}]]}]}`,
		`{"rules":[{"case":[["uri","==","/hello"]]}]}`},
	{"prometheus", "schema", `{"prefer_name":true}`, `{"prefer_name":"yes"}`},
	{"prometheus", "metadata", `{"disabled_labels":{"http_status":["node","consumer"],"http_latency":["node"]}}`,
		`{"disabled_labels":{"http_status":["code"]}}`},
	{"prometheus", "metadata", `{"disabled_labels":{}}`, `{"disabled_labels":{"unknown_metric":["node"]}}`},
	{"opentelemetry", "schema", `{"sampler":{"name":"parent_base","options":{"root":{"name":"trace_id_ratio","options":{"fraction":0.5}}}},"additional_attributes":["route_id"]}`,
		`{"sampler":{"name":"sometimes"}}`},
	{"opentelemetry", "metadata", `{"trace_id_source":"x-request-id","resource":{"service.name":"APISIX","tenant":1},"collector":{"address":"127.0.0.1:4318","request_timeout":3}}`,
		`{"trace_id_source":"header"}`},
	{"zipkin", "schema", `{"endpoint":"http://127.0.0.1:9411/api/v2/spans","sample_ratio":1,"service_name":"APISIX-IN-SG","server_addr":"192.168.3.50"}`,
		`{"endpoint":"http://127.0.0.1:9411/api/v2/spans","sample_ratio":2}`},
	{"node-status", "schema", `{}`, `[]`},
	{"server-info", "schema", `{}`, `"on"`},
	{"http-logger", "schema", `{"uri":"http://mockbin.org/bin/:ID","batch_max_size":1,"include_req_body":true,"concat_method":"new_line"}`,
		`{"uri":"mockbin.org/bin"}`},
	{"http-logger", "schema", `{"uri":"https://[::1]:8443/log","log_format":{"host":"$host"},"include_resp_body_expr":[["arg_x","==","1"]]}`,
		`{"uri":"http://127.0.0.1:1980/log","batch_max_size":0}`},
	{"http-logger", "metadata", `{"log_format":{"host":"$host","@timestamp":"$time_iso8601","client_ip":"$remote_addr"},"max_pending_entries":100}`,
		`{"max_pending_entries":0}`},
	{"tcp-logger", "schema", `{"host":"127.0.0.1","port":5044,"tls":false,"batch_max_size":1,"name":"tcp logger"}`,
		`{"host":"127.0.0.1"}`},
	{"udp-logger", "schema", `{"host":"127.0.0.1","port":3000,"batch_max_size":1,"name":"udp logger"}`,
		`{"host":"127.0.0.1","port":-1}`},
	{"syslog", "schema", `{"host":"127.0.0.1","port":5044,"flush_limit":1,"sock_type":"udp"}`,
		`{"host":"127.0.0.1","port":5044,"sock_type":"sctp"}`},
	{"kafka-logger", "schema", `{"brokers":[{"host":"127.0.0.1","port":9092,"sasl_config":{"mechanism":"PLAIN","user":"u","password":"p"}}],"kafka_topic":"test2","key":"key1","batch_max_size":1}`,
		`{"kafka_topic":"test2"}`},
	{"kafka-logger", "schema", `{"broker_list":{"127.0.0.1":9092},"kafka_topic":"test2","required_acks":-1}`,
		`{"broker_list":{"127.0.0.1":9092},"brokers":[{"host":"127.0.0.1","port":9092}],"kafka_topic":"test2"}`},
	{"loki-logger", "schema", `{"endpoint_addrs":["http://127.0.0.1:3100"],"log_labels":{"job":"apisix","route":"$route_id"}}`,
		`{"endpoint_addrs":[]}`},
	{"elasticsearch-logger", "schema", `{"endpoint_addrs":["http://127.0.0.1:9200"],"field":{"index":"services"},"auth":{"username":"elastic","password":"123456"}}`,
		`{"endpoint_addrs":["http://127.0.0.1:9200/"],"field":{"index":"services"}}`},
	{"elasticsearch-logger", "schema", `{"endpoint_addr":"http://127.0.0.1:9200","field":{"index":"services"},"headers":{"X-Tenant":"a"}}`,
		`{"endpoint_addrs":["http://127.0.0.1:9200"],"field":{"index":"services"},"headers":{"X:Bad":"a"}}`},
	{"file-logger", "schema", `{"path":"logs/file.log","match":[[["arg_name","==","jack"]]]}`, `{"path":1}`},
	{"file-logger", "metadata", `{"path":"logs/metadata-file.log","log_format":{"host":"$host"}}`, `{"path":5}`},
	{"ext-plugin-pre-req", "schema", `{"conf":[{"name":"ext-plugin-A","value":"{\"enable\":\"feature\"}"}]}`,
		`{"conf":[{"name":"","value":"x"}]}`},
	{"ext-plugin-post-req", "schema", `{"conf":[{"name":"A","value":"1"}],"allow_degradation":true}`, `{"conf":[]}`},
	{"ext-plugin-post-resp", "schema", `{"conf":[{"name":"A","value":"1"}]}`, `{"conf":[{"name":"A"}]}`},
	{"serverless-pre-function", "schema", `{"phase":"rewrite","functions":["return function() ngx.log(ngx.ERR, \"one\") end"]}`,
		`{"functions":[]}`},
	{"serverless-post-function", "schema", `{"functions":["return function() end"]}`, `{"phase":"preread","functions":["return function() end"]}`},
	{"public-api", "schema", `{"uri":"/apisix/prometheus/metrics"}`, `{"uri":1}`},
	{"skywalking", "schema", `{"sample_ratio":1}`, `{"sample_ratio":1,"endpoint_addr":"http://127.0.0.1:12800"}`},
	{"skywalking-logger", "schema", `{"endpoint_addr":"http://127.0.0.1:12800","service_instance_name":"$hostname"}`,
		`{"service_name":"APISIX"}`},
	{"datadog", "schema", `{"prefer_name":false,"batch_max_size":100}`, `{"max_retry_count":0}`},
	{"datadog", "metadata", `{"host":"172.168.45.29","port":8126,"constant_tags":["source:apisix","service:custom"],"namespace":"apisix"}`,
		`{"port":-1}`},
	{"loggly", "schema", `{"customer_token":"0e6fe4bf-376e-40f4-b25f-1d55cb29f5a2","tags":["apisix","testroute"],"severity_map":{"503":"ERR"}}`,
		`{"customer_token":"0e6fe4bf","tags":["tag=x"]}`},
	{"loggly", "schema", `{"customer_token":"t","tags":["t","ta","tag","tagx"]}`, `{"customer_token":"t","severity":"VERBOSE"}`},
	{"loggly", "metadata", `{"host":"loggly.com","port":6514,"protocol":"https"}`, `{"protocol":"tcp"}`},
	{"splunk-hec-logging", "schema", `{"endpoint":{"uri":"http://127.0.0.1:18088/services/collector","token":"BD274822-96AA-4DA6-90EC-18940FB2414C"},"batch_max_size":1}`,
		`{"endpoint":{"uri":"http://127.0.0.1:18088/services/collector"}}`},
	{"sls-logger", "schema", `{"host":"100.100.99.135","port":10009,"project":"your_project","logstore":"your_logstore","access_key_id":"your_access_key_id","access_key_secret":"your_access_key_secret","timeout":30000}`,
		`{"host":"100.100.99.135","port":10009,"project":"your_project","access_key_id":"id","access_key_secret":"secret"}`},
	{"clickhouse-logger", "schema", `{"endpoint_addrs":["http://127.0.0.1:8123"],"user":"default","password":"","database":"default","logtable":"test"}`,
		`{"endpoint_addrs":["http://127.0.0.1:8123"],"user":"default","password":"","database":"default"}`},
	{"tencent-cloud-cls", "schema", `{"cls_host":"ap-guangzhou.cls.tencentyun.com","cls_topic":"143b5d70-139b-4aec-b54e-bb97756916de","secret_id":"secret_id","secret_key":"secret_key"}`,
		`{"cls_host":"ap-guangzhou.cls.tencentyun.com","cls_topic":"t","secret_id":"i","secret_key":"k","sample_ratio":0}`},
}

func TestPart2Samples(t *testing.T) {
	runSchemaSamples(t, part2Samples)
}

// TestPart2SamplesCoverEveryPlugin keeps the sample table honest: every part-2 plugin has at
// least one good/bad pair for its conf schema, and one for its metadata schema when it has one.
func TestPart2SamplesCoverEveryPlugin(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range part2Samples {
		covered[c.plugin+"/"+c.kind] = true
	}
	for _, p := range part2Plugins {
		if !covered[p.name+"/schema"] {
			t.Errorf("%s: no sample for its schema", p.name)
		}
		if p.metadata && !covered[p.name+"/metadata"] && !part2SharedMetadata[p.name] {
			t.Errorf("%s: no sample for its metadata schema", p.name)
		}
	}
}

// part2SharedMetadata lists loggers whose metadata schema is the common batching-logger one
// ({log_format, log_format_extra, max_pending_entries}); http-logger's sample exercises it, and
// TestPart2LoggerMetadataShared checks that the others are the same document.
var part2SharedMetadata = map[string]bool{
	"tcp-logger": true, "udp-logger": true, "syslog": true, "kafka-logger": true,
	"loki-logger": true, "elasticsearch-logger": true, "skywalking-logger": true,
	"splunk-hec-logging": true, "clickhouse-logger": true, "tencent-cloud-cls": true,
}

func TestPart2LoggerMetadataShared(t *testing.T) {
	ref, ok := plugin.Lookup("http-logger")
	if !ok {
		t.Fatal("http-logger is not registered")
	}
	for name := range part2SharedMetadata {
		d, ok := plugin.Lookup(name)
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		if string(d.MetadataSchema) != string(ref.MetadataSchema) {
			t.Errorf("%s metadata schema differs from http-logger's", name)
		}
	}
}
