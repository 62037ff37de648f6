package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// validationCase is one request of APISIX's t/admin or t/node test suites whose answer
// depends on resource validation: a body that must be rejected (status and the exact
// error_msg) or a tricky body that must be accepted (and stored as APISIX stores it).
type validationCase struct {
	name   string // "<file>.t TEST <n>: <title>"
	method string
	path   string // under /apisix/admin
	body   string
	status int
	// errMsg is the exact error_msg of a rejection; errPrefix is used instead where the
	// APISIX test only matches a pattern.
	errMsg    string
	errPrefix string
	// value, when set, is the JSON the response's `value` must equal once
	// create_time/update_time are dropped: the defaults APISIX injects are part of it.
	value string
}

const upNodes = `"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"roundrobin"}`

// TestValidation runs APISIX's validation cases against one node, in order.
func TestValidation(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	for _, c := range validationCases(t) {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, n.adminURL(c.path), configuredKey, c.body)
			if r.Status != c.status {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, r.Status, c.status, r.Body)
			}
			var env struct {
				ErrorMsg *string        `json:"error_msg"`
				Value    map[string]any `json:"value"`
			}
			if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, r.Body)
			}
			switch {
			case c.errMsg != "":
				if env.ErrorMsg == nil || *env.ErrorMsg != c.errMsg {
					t.Errorf("error_msg mismatch\n got: %s\nwant: %s", r.Body, c.errMsg)
				}
			case c.errPrefix != "":
				if env.ErrorMsg == nil || !strings.HasPrefix(*env.ErrorMsg, c.errPrefix) {
					t.Errorf("error_msg mismatch\n got: %s\nwant prefix: %s", r.Body, c.errPrefix)
				}
			case c.value != "":
				var want map[string]any
				if err := json.Unmarshal([]byte(c.value), &want); err != nil {
					t.Fatalf("bad want value: %v", err)
				}
				got := env.Value
				delete(got, "create_time")
				delete(got, "update_time")
				if !reflect.DeepEqual(got, want) {
					g, _ := json.Marshal(got)
					t.Errorf("stored value mismatch\n got: %s\nwant: %s", g, c.value)
				}
			}
		})
	}
}

func validationCases(t testing.TB) []validationCase {
	var cs []validationCase
	cs = append(cs, routeCases()...)
	cs = append(cs, serviceCases()...)
	cs = append(cs, upstreamCases()...)
	cs = append(cs, consumerCases()...)
	cs = append(cs, sslCases(t)...)
	cs = append(cs, otherCases()...)
	return cs
}

func routeCases() []validationCase {
	return []validationCase{
		{name: "routes.t TEST 9: duplicate method", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET","GET"],` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "methods" validation failed: expected unique items but items 1 and 2 are equal`},
		{name: "routes.t TEST 10: invalid method", method: "PUT", path: "/routes/1",
			body:   `{"methods":["invalid_method"],"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "methods" validation failed: failed to validate item 1: matches none of the enum values`},
		{name: "routes.t TEST 11: invalid service id", method: "PUT", path: "/routes/1",
			body:   `{"service_id":"invalid_id$","uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "service_id" validation failed: object matches none of the required`},
		{name: "routes.t TEST 12: service id not exist", method: "PUT", path: "/routes/1",
			body:   `{"service_id":"99999999999999","uri":"/index.html"}`,
			status: 400, errMsg: `failed to fetch service info by service id [99999999999999], response code: 404`},
		{name: "routes.t TEST 13: invalid id", method: "PUT", path: "/routes/1",
			body:   `{"id":3,"uri":"/index.html"}`,
			status: 400, errMsg: `wrong route id`},
		{name: "routes.t TEST 14: id in the rule", method: "PUT", path: "/routes",
			body:   `{"id":"1","plugins":{},"uri":"/index.html"}`,
			status: 201, value: `{"id":"1","plugins":{},"uri":"/index.html","priority":0,"status":1}`},
		{name: "routes.t TEST 15: integer id less than 1", method: "PUT", path: "/routes",
			body:   `{"id":-100,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "routes.t TEST 16: invalid upstream_id", method: "PUT", path: "/routes/1",
			body:   `{"upstream_id":"invalid$","uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "upstream_id" validation failed: object matches none of the required`},
		{name: "routes.t TEST 17: not exist upstream_id", method: "PUT", path: "/routes/1",
			body:   `{"upstream_id":"99999999","uri":"/index.html"}`,
			status: 400, errMsg: `failed to fetch upstream info by upstream id [99999999], response code: 404`},
		{name: "routes.t TEST 18: wrong route id, do not need it (body)", method: "POST", path: "/routes",
			body:   `{"id":1,"plugins":{},"uri":"/index.html"}`,
			status: 400, errMsg: `wrong route id, do not need it`},
		{name: "routes.t TEST 19: wrong route id, do not need it (path)", method: "POST", path: "/routes/1",
			body:   `{"plugins":{},"uri":"/index.html"}`,
			status: 400, errMsg: `wrong route id, do not need it`},
		{name: "routes.t TEST 20: limit-count with _meta.disable", method: "PUT", path: "/routes/1",
			body:   `{"plugins":{"limit-count":{"_meta":{"disable":true}}},"uri":"/index.html"}`,
			status: 200, value: `{"id":"1","plugins":{"limit-count":{"_meta":{"disable":true}}},"uri":"/index.html","priority":0,"status":1}`},
		{name: "routes.t TEST 21: host *.foo.com", method: "PUT", path: "/routes/1",
			body:   `{"host":"*.foo.com",` + upNodes + `,"uri":"/index.html"}`,
			status: 200},
		{name: "routes.t TEST 22: invalid host a.*.foo.com", method: "PUT", path: "/routes/1",
			body:   `{"host":"a.*.foo.com",` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "host" validation failed: failed to match pattern "^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$" with "a.*.foo.com"`},
		{name: "routes.t TEST 23: invalid host *.a.*.foo.com", method: "PUT", path: "/routes/1",
			body:   `{"host":"*.a.*.foo.com",` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "host" validation failed: failed to match pattern "^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$" with "*.a.*.foo.com"`},
		{name: "routes.t TEST 24: remote_addr 127.0.0.1", method: "PUT", path: "/routes/1",
			body:   `{"remote_addr":"127.0.0.1",` + upNodes + `,"uri":"/index.html"}`,
			status: 200},
		{name: "routes.t TEST 25: remote_addr 127.0.0.0/24", method: "PUT", path: "/routes/1",
			body:   `{"remote_addr":"127.0.0.0/24",` + upNodes + `,"uri":"/index.html"}`,
			status: 200},
		{name: "routes.t TEST 26: remote_addr 127.0.0.33333", method: "PUT", path: "/routes/1",
			body:   `{"remote_addr":"127.0.0.33333",` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "remote_addr" validation failed: object matches none of the required`},
		{name: "routes.t TEST 27: all methods", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET","POST","PUT","DELETE","PATCH","HEAD","OPTIONS","CONNECT","TRACE","PURGE"],` + upNodes + `,"uri":"/index.html"}`,
			status: 200},
		{name: "routes.t TEST 31: multiple hosts", method: "PUT", path: "/routes/1",
			body:   `{"uri":"/index.html","hosts":["foo.com","*.bar.com"],` + upNodes + `,"desc":"new route"}`,
			status: 200},
		{name: "routes.t TEST 32: host and hosts together", method: "PUT", path: "/routes/1",
			body:   `{"uri":"/index.html","host":"xxx.com","hosts":["foo.com","*.bar.com"],` + upNodes + `}`,
			status: 400, errMsg: `only one of host or hosts is allowed`},
		{name: "routes.t TEST 33: multiple remote_addrs", method: "PUT", path: "/routes/1",
			body:   `{"uri":"/index.html","remote_addrs":["127.0.0.1","192.0.0.1/8","::1","fe80::/32"],` + upNodes + `}`,
			status: 200},
		{name: "routes.t TEST 34: multiple vars", method: "PUT", path: "/routes/1",
			body:   `{"uri":"/index.html","vars":[["arg_name","==","json"],["arg_age",">",18]],` + upNodes + `}`,
			status: 200},
		{name: "routes.t TEST 37: multiple uris", method: "PUT", path: "/routes/1",
			body:   `{"uris":["/index.html","/index2.html"],` + upNodes + `}`,
			status: 200},
		{name: "routes.t TEST 43: chash default hash_on vars, missing key", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash"},"uri":"/index.html"}`,
			status: 400, errMsg: `missing key`},
		{name: "routes.t TEST 44: chash hash_on header, missing key", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"header"},"uri":"/index.html"}`,
			status: 400, errMsg: `missing key`},
		{name: "routes.t TEST 45: chash hash_on cookie, missing key", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"cookie"},"uri":"/index.html"}`,
			status: 400, errMsg: `missing key`},
		{name: "routes.t TEST 46: chash hash_on consumer, no key is ok", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"consumer"},"desc":"new route","uri":"/index.html"}`,
			status: 200, value: `{"id":"1","methods":["GET"],"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"consumer","scheme":"http","pass_host":"pass"},"desc":"new route","uri":"/index.html","priority":0,"status":1}`},

		{name: "routes2.t TEST 1: bad remote_addrs", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"remote_addrs":[""],` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errPrefix: `invalid configuration: property "remote_addrs" validation failed:`},
		{name: "routes2.t TEST 2: bad remote_addrs cidr", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"remote_addrs":["/16"],` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errPrefix: `invalid configuration: property "remote_addrs" validation failed:`},
		{name: "routes2.t TEST 3: valid remote_addrs", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"remote_addrs":["::1/16","::1","::","1.1.1.1","1.1.1.1/32"],` + upNodes + `,"uri":"/index.html"}`,
			status: 200},
		{name: "routes2.t TEST 4: bad vars operator", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"vars":[["remote_addr","=","127.0.0.1"]],` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `failed to validate the 'vars' expression: invalid operator '='`},
		{name: "routes2.t TEST 6: not unwanted data, PUT", method: "PUT", path: "/routes",
			body:   `{"id":1,"methods":["GET"],` + upNodes + `,"uri":"/index.html"}`,
			status: 200, value: `{"id":1,"methods":["GET"],"priority":0,"status":1,"upstream":{"hash_on":"vars","nodes":{"127.0.0.1:8080":1},"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/index.html"}`},
		{name: "routes2.t TEST 7: not unwanted data, PATCH", method: "PATCH", path: "/routes/1",
			body:   `{"methods":["GET"],` + upNodes + `,"uri":"/index"}`,
			status: 200, value: `{"id":"1","methods":["GET"],"priority":0,"status":1,"upstream":{"hash_on":"vars","nodes":{"127.0.0.1:8080":1},"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/index"}`},
		{name: "routes2.t TEST 10: empty remote_addrs", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"remote_addrs":[],` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "remote_addrs" validation failed: expect array to have at least 1 items`},
		{name: "routes2.t TEST 11: empty uris", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],` + upNodes + `,"uris":[]}`,
			status: 400, errMsg: `invalid configuration: property "uris" validation failed: expect array to have at least 1 items`},
		{name: "routes2.t TEST 12: empty hosts", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],` + upNodes + `,"hosts":[],"uri":"/"}`,
			status: 400, errMsg: `invalid configuration: property "hosts" validation failed: expect array to have at least 1 items`},
		{name: "routes2.t TEST 13: uris and uri", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],` + upNodes + `,"uris":["/"],"uri":"/"}`,
			status: 400, errMsg: `invalid configuration: allOf 1 failed: value should match only one schema, but matches both schemas 1 and 2`},
		{name: "routes2.t TEST 14: remote_addr and remote_addrs", method: "PUT", path: "/routes/1",
			body:   `{"uri":"/index.html",` + upNodes + `,"remote_addr":"127.0.0.1","remote_addrs":["127.0.0.1"]}`,
			status: 400, errMsg: `only one of remote_addr or remote_addrs is allowed`},
		{name: "routes2.t TEST 15: labels in Chinese", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],` + upNodes + `,"labels":{"您好":"世界"},"uri":"/index.html"}`,
			status: 200},

		{name: "routes4.t TEST 3: invalid argument ttl", method: "PUT", path: "/routes?ttl=xxx",
			body:   `{` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid argument ttl: should be a number`},
		{name: "routes4.t TEST 13: invalid string id", method: "PUT", path: "/routes/*invalid",
			body:   `{` + upNodes + `,"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "routes4.t TEST 17: uri + plugins + script", method: "PUT", path: "/routes/1",
			body:   `{"plugins":{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"}},"script":"local _M = {} \n function _M.access(api_ctx) \n ngx.log(ngx.INFO,\"hit access phase\") \n end \nreturn _M","uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: value wasn't supposed to match schema`},
		{name: "routes4.t TEST 18: multi nodes with node pass_host, duplicate methods", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET","GET"],"upstream":{"nodes":{"httpbin.org:8080":1,"test.com:8080":1},"type":"roundrobin","pass_host":"node"},"uri":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: property "methods" validation failed: expected unique items but items 1 and 2 are equal`},
		{name: "routes4.t TEST 21: invalid label value", method: "PUT", path: "/routes/1",
			body:   `{"methods":["GET"],"uri":"/index.html","labels":{"env":["production","release"]}}`,
			status: 400, errMsg: `invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table`},
	}
}

func serviceCases() []validationCase {
	const sid = "/services/5eeb3dc90f747328b2930b0b"
	return []validationCase{
		{name: "services.t TEST 9: invalid service id in uri", method: "PUT", path: "/services/*invalid_id$",
			body:   `{"plugins":{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"}}}`,
			status: 400, errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "services.t TEST 10: invalid id", method: "PUT", path: sid,
			body: `{"id":"3","plugins":{}}`, status: 400, errMsg: `wrong service id`},
		{name: "services.t TEST 11: id in the rule", method: "PUT", path: "/services",
			body: `{"id":"5eeb3dc90f747328b2930b0b","plugins":{}}`, status: 201,
			value: `{"id":"5eeb3dc90f747328b2930b0b","plugins":{}}`},
		{name: "services.t TEST 12: integer id less than 1", method: "PUT", path: "/services",
			body:   `{"id":-100,"plugins":{}}`,
			status: 400, errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "services.t TEST 13: id contains symbols", method: "PUT", path: "/services",
			body:   `{"id":"*invalid_id$","plugins":{}}`,
			status: 400, errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "services.t TEST 14: no additional properties", method: "PUT", path: "/services",
			body:   `{"id":"5eeb3dc90f747328b2930b0b","invalid_property":"/index.html"}`,
			status: 400, errMsg: `invalid configuration: additional properties forbidden, found invalid_property`},
		{name: "services.t TEST 15: invalid upstream_id", method: "PUT", path: "/services",
			body:   `{"id":"5eeb3dc90f747328b2930b0b","upstream_id":"invalid$"}`,
			status: 400, errMsg: `invalid configuration: property "upstream_id" validation failed: object matches none of the required`},
		{name: "services.t TEST 16: not exist upstream_id", method: "PUT", path: "/services",
			body:   `{"id":"5eeb3dc90f747328b2930b0b","upstream_id":"9999999999"}`,
			status: 400, errMsg: `failed to fetch upstream info by upstream id [9999999999], response code: 404`},
		{name: "services.t TEST 17: wrong service id (path)", method: "POST", path: sid,
			body: `{"plugins":{}}`, status: 400, errMsg: `wrong service id, do not need it`},
		{name: "services.t TEST 18: wrong service id (body)", method: "POST", path: "/services",
			body: `{"id":"5eeb3dc90f747328b2930b0b","plugins":{}}`, status: 400, errMsg: `wrong service id, do not need it`},
		{name: "services.t TEST 22: chash default hash_on, missing key", method: "PUT", path: sid,
			body: `{"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash"},"desc":"new service"}`, status: 400, errMsg: `missing key`},
		{name: "services.t TEST 23: chash hash_on header, missing key", method: "PUT", path: sid,
			body: `{"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"header"},"desc":"new service"}`, status: 400, errMsg: `missing key`},
		{name: "services.t TEST 24: chash hash_on cookie, missing key", method: "PUT", path: sid,
			body: `{"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"cookie"},"desc":"new service"}`, status: 400, errMsg: `missing key`},
		{name: "services.t TEST 25: chash hash_on consumer, no key is ok", method: "PUT", path: sid,
			body:   `{"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"consumer"},"desc":"new service"}`,
			status: 200, value: `{"id":"5eeb3dc90f747328b2930b0b","upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"consumer","scheme":"http","pass_host":"pass"},"desc":"new service"}`},
	}
}

func upstreamCases() []validationCase {
	const nodes = `"nodes":{"127.0.0.1:8080":1}`
	return []validationCase{
		{name: "upstream.t TEST 6: empty nodes", method: "PUT", path: "/upstreams/1",
			body: `{"nodes":{},"type":"roundrobin"}`, status: 201,
			value: `{"id":"1","nodes":{},"type":"roundrobin","hash_on":"vars","pass_host":"pass","scheme":"http"}`},
		{name: "upstream.t TEST 7: invalid upstream id in uri", method: "PUT", path: "/upstreams/invalid$id",
			body: `{` + nodes + `,"type":"roundrobin"}`, status: 400,
			errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "upstream.t TEST 8: different id", method: "PUT", path: "/upstreams/1",
			body: `{"id":3,` + nodes + `,"type":"roundrobin"}`, status: 400, errMsg: `wrong upstream id`},
		{name: "upstream.t TEST 10: integer id less than 1", method: "PUT", path: "/upstreams",
			body: `{"id":-100,` + nodes + `,"type":"roundrobin"}`, status: 400,
			errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "upstream.t TEST 11: invalid upstream id: string value", method: "PUT", path: "/upstreams",
			body: `{"id":"invalid$",` + nodes + `,"type":"roundrobin"}`, status: 400,
			errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "upstream.t TEST 12: no additional properties", method: "PUT", path: "/upstreams",
			body: `{"id":1,` + nodes + `,"type":"roundrobin","invalid_property":"/index.html"}`, status: 400,
			errMsg: `invalid configuration: additional properties forbidden, found invalid_property`},
		{name: "upstream.t TEST 13: chash with key", method: "PUT", path: "/upstreams/1",
			body: `{"key":"remote_addr",` + nodes + `,"type":"chash"}`, status: 200,
			value: `{"id":"1","key":"remote_addr",` + nodes + `,"type":"chash","hash_on":"vars","pass_host":"pass","scheme":"http"}`},
		{name: "upstream.t TEST 15: invalid weight of node (string)", method: "PUT", path: "/upstreams",
			body: `{"id":1,"nodes":{"127.0.0.1:8080":"1"},"type":"chash"}`, status: 400,
			errMsg: `invalid configuration: property "nodes" validation failed: object matches none of the required`},
		{name: "upstream.t TEST 16: invalid weight of node (negative)", method: "PUT", path: "/upstreams",
			body: `{"id":1,"nodes":{"127.0.0.1:8080":-100},"type":"chash"}`, status: 400,
			errMsg: `invalid configuration: property "nodes" validation failed: object matches none of the required`},
		{name: "upstream.t TEST 17: chash missing key", method: "PUT", path: "/upstreams/1",
			body: `{` + nodes + `,"type":"chash"}`, status: 400, errMsg: `missing key`},
		{name: "upstream.t TEST 18: wrong upstream id, do not need it (path)", method: "POST", path: "/upstreams/1",
			body: `{` + nodes + `,"type":"roundrobin"}`, status: 400, errMsg: `wrong upstream id, do not need it`},
		{name: "upstream.t TEST 19: wrong upstream id, do not need it (body)", method: "POST", path: "/upstreams",
			body: `{"id":1,` + nodes + `,"type":"roundrobin"}`, status: 400, errMsg: `wrong upstream id, do not need it`},
		{name: "upstream.t TEST 23: patch weight 0", method: "PATCH", path: "/upstreams/1/nodes",
			body: `{"127.0.0.1:8081":0,"127.0.0.1:8082":4}`, status: 200,
			value: `{"id":"1","key":"remote_addr","nodes":{"127.0.0.1:8081":0,"127.0.0.1:8082":4},"type":"chash","hash_on":"vars","pass_host":"pass","scheme":"http"}`},
		{name: "upstream.t TEST 25: wrong chash key", method: "PUT", path: "/upstreams/1",
			body: `{"nodes":{"127.0.0.1:8080":1,"127.0.0.1:8081":2},"type":"chash","key":"not_support","desc":"new upstream"}`, status: 400,
			errMsg: `invalid configuration: failed to match pattern "^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$" with "not_support"`},
		{name: "upstream2.t TEST 2: not unwanted data, PUT", method: "PUT", path: "/upstreams/1",
			body: `{` + nodes + `,"type":"roundrobin"}`, status: 200,
			value: `{"hash_on":"vars","id":"1",` + nodes + `,"pass_host":"pass","scheme":"http","type":"roundrobin"}`},
		{name: "upstream2.t TEST 3: not unwanted data, PATCH", method: "PATCH", path: "/upstreams/1",
			body: `{` + nodes + `,"type":"roundrobin"}`, status: 200,
			value: `{"hash_on":"vars","id":"1",` + nodes + `,"pass_host":"pass","scheme":"http","type":"roundrobin"}`},
		{name: "upstream-array-nodes.t: array nodes get node priority", method: "PUT", path: "/upstreams/2",
			body: `{"nodes":[{"host":"127.0.0.1","port":8080,"weight":1}],"type":"roundrobin"}`, status: 201,
			value: `{"id":"2","nodes":[{"host":"127.0.0.1","port":8080,"weight":1,"priority":0}],"type":"roundrobin","hash_on":"vars","pass_host":"pass","scheme":"http"}`},
		{name: "upstream-node-port.t TEST 2: node port greater than 65535", method: "PUT", path: "/upstreams/2",
			body: `{"nodes":[{"host":"127.0.0.1","port":65536,"weight":1}],"type":"roundrobin"}`, status: 400,
			errMsg: `invalid configuration: property "nodes" validation failed: object matches none of the required`},
		{name: "health-check.t: passive only", method: "PUT", path: "/upstreams/2",
			body: `{` + nodes + `,"type":"roundrobin","checks":{"passive":{"healthy":{"http_statuses":[200],"successes":1}}}}`, status: 400,
			errMsg: `invalid configuration: property "checks" validation failed: object matches none of the required: ["active"] or ["active","passive"]`},
		{name: "upstream.t: pass_host rewrite without upstream_host", method: "PUT", path: "/upstreams/2",
			body: `{` + nodes + `,"type":"roundrobin","pass_host":"rewrite"}`, status: 400,
			errMsg: "`upstream_host` can't be empty when `pass_host` is `rewrite`"},
		{name: "upstream3.t TEST 2: retry_timeout is -1", method: "PUT", path: "/upstreams/a-b-c-ABC_0123",
			body: `{"nodes":{"127.0.0.1:8080":1,"127.0.0.1:8090":1},"retry_timeout":-1,"type":"roundrobin"}`, status: 400,
			errMsg: `invalid configuration: property "retry_timeout" validation failed: expected -1 to be at least 0`},
	}
}

func consumerCases() []validationCase {
	return []validationCase{
		{name: "credentials.t TEST 1: consumer not found", method: "PUT", path: "/consumers/jack/credentials/credential_a",
			body: `{"plugins":{"key-auth":{"key":"the-key"}}}`, status: 404, errMsg: `consumer not found`},
		{name: "consumers.t TEST 1: add consumer with username", method: "PUT", path: "/consumers",
			body: `{"username":"jack","desc":"new consumer"}`, status: 201,
			value: `{"username":"jack","desc":"new consumer"}`},
		{name: "consumers.t TEST 6: missing username", method: "PUT", path: "/consumers",
			body: `{"id":"jack"}`, status: 400, errMsg: `invalid configuration: property "username" is required`},
		{name: "consumers.t TEST 8: invalid label value", method: "PUT", path: "/consumers",
			body:   `{"username":"jack","desc":"new consumer","labels":{"env":["production","release"]}}`,
			status: 400, errMsg: `invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table`},
		{name: "consumers.t TEST 9: post consumers", method: "POST", path: "/consumers",
			body: `{"username":"jack"}`, status: 405, errMsg: "not supported `POST` method for consumer"},
		{name: "credentials.t TEST 4: key-auth credential", method: "PUT", path: "/consumers/jack/credentials/credential_b",
			body: `{"desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key"}}}`, status: 201},
		{name: "credentials.t TEST 5: non-auth plugin", method: "PUT", path: "/consumers/jack/credentials/credential_b",
			body:   `{"desc":"limit-conn for jack","plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"rejected_code":503,"key_type":"var","key":"http_a"}}}`,
			status: 400, errMsg: `only supports auth type plugins in consumer credential`},
		{name: "credentials.t TEST 11: more than one plugin", method: "PUT", path: "/consumers/jack/credentials/xxx-yyy-zzz",
			body:   `{"plugins":{"key-auth":{"key":"the-key"},"basic-auth":{"username":"the-user","password":"the-password"}}}`,
			status: 400, errMsg: `invalid configuration: property "plugins" validation failed: expect object to have at most 1 properties`},
		{name: "credentials.t TEST 15: id in the payload", method: "PUT", path: "/consumers/jack/credentials",
			body: `{"id":"d79a5aa3","desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key-2"}}}`, status: 201},
		{name: "credentials.t TEST 16: missing id in uri and payload", method: "PUT", path: "/consumers/jack/credentials",
			body: `{"desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key-3"}}}`, status: 400, errMsg: `missing credential id`},
	}
}

func sslCases(t testing.TB) []validationCase {
	cert, key := selfSigned(t, "test.com")
	enc := func(m map[string]any) string {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return []validationCase{
		{name: "ssl.t TEST 1: set ssl", method: "PUT", path: "/ssls/1",
			body: enc(map[string]any{"cert": cert, "key": key, "sni": "test.com"}), status: 201},
		{name: "ssl.t TEST 6: missing certificate information", method: "PUT", path: "/ssls/1",
			body: `{"sni":"foo.com"}`, status: 400, errMsg: `invalid configuration: then clause did not match`},
		{name: "ssl.t TEST 7: wildcard host name", method: "PUT", path: "/ssls/1",
			body: enc(map[string]any{"cert": cert, "key": key, "sni": "*.foo.com"}), status: 200},
		{name: "ssl.t TEST 8: store sni in snis", method: "PUT", path: "/ssls/1",
			body: enc(map[string]any{"cert": cert, "key": key, "snis": []string{"*.foo.com", "bar.com"}}), status: 200},
		{name: "ssl.t TEST 12: invalid id", method: "PUT", path: "/ssls/*invalid",
			body: enc(map[string]any{"cert": cert, "key": key, "sni": "test.com"}), status: 400,
			errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "ssl.t TEST 14: mismatched certs and keys", method: "PUT", path: "/ssls/1",
			body: enc(map[string]any{"sni": "test.com", "certs": []string{cert}, "keys": []string{}}), status: 400,
			errMsg: `invalid configuration: then clause did not match`},
		{name: "ssl.t TEST 16: invalid label value", method: "PUT", path: "/ssls/1",
			body: enc(map[string]any{"cert": cert, "key": key, "sni": "test.com", "labels": map[string]any{"env": []string{"production", "release"}}}), status: 400,
			errMsg: `invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got table`},
	}
}

func otherCases() []validationCase {
	return []validationCase{
		{name: "global-rules.t: missing plugins", method: "PUT", path: "/global_rules/1",
			body: `{}`, status: 400, errMsg: `invalid configuration: property "plugins" is required`},
		{name: "global-rules.t: invalid string id", method: "PUT", path: "/global_rules/*invalid",
			body: `{"plugins":{}}`, status: 400,
			errMsg: `invalid configuration: property "id" validation failed: object matches none of the required`},
		{name: "plugin-configs.t: missing plugins", method: "PUT", path: "/plugin_configs/1",
			body: `{"desc":"blah"}`, status: 400, errMsg: `invalid configuration: property "plugins" is required`},
		{name: "plugin-configs.t: unknown plugin", method: "PUT", path: "/plugin_configs/1",
			body: `{"plugins":{"no-such-plugin":{}}}`, status: 400, errMsg: `unknown plugin [no-such-plugin]`},
		{name: "consumer-group.t: missing plugins", method: "PUT", path: "/consumer_groups/company_a",
			body: `{"desc":"blah"}`, status: 400, errMsg: `invalid configuration: property "plugins" is required`},
		{name: "proto.t: missing content", method: "PUT", path: "/protos/1",
			body: `{"desc":"blah"}`, status: 400, errMsg: `invalid configuration: property "content" is required`},
	}
}
