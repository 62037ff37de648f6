package e2e

// Behaviour cases of APISIX's own Admin API tests (apache/apisix t/admin/*.t), ported to run
// against the real binary. Case names cite the .t file and TEST number; where the upstream
// test still spoke Admin API v2 (`action`, `node`, `count`), the case asserts the v3 shape
// the reference describes instead.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

const noKey = "-"

// adminCase is one request and what APISIX answers to it.
type adminCase struct {
	name   string
	method string
	path   string // under /apisix/admin; "{name}" is replaced by a saved id
	body   string
	key    string // "" sends configuredKey, noKey sends none, anything else is sent as is
	header map[string]string
	sleep  time.Duration // wait before sending (TTL cases)

	status int
	exact  string            // the whole body (one trailing newline ignored)
	like   string            // a regexp the body must match
	want   string            // JSON that must be a subset of the body (test_admin's comparison)
	hdr    map[string]string // response headers; "" means the header must be absent
	save   string            // remember the id at the end of the answer's "key"
	check  func(t *testing.T, body string)
}

func runAdminCases(t *testing.T, n *node, cases []adminCase) {
	t.Helper()
	saved := map[string]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.sleep > 0 {
				time.Sleep(c.sleep)
			}
			path := c.path
			for k, v := range saved {
				path = strings.ReplaceAll(path, "{"+k+"}", v)
			}
			r := doAdmin(t, n, c, path)
			if c.status != 0 && r.Status != c.status {
				t.Errorf("%s %s: status %d, want %d; body %s", c.method, path, r.Status, c.status, r.Body)
			}
			body := strings.TrimSuffix(r.Body, "\n")
			if c.exact != "" && body != c.exact {
				t.Errorf("%s %s: body\n got  %s\n want %s", c.method, path, body, c.exact)
			}
			if c.like != "" && !regexp.MustCompile(c.like).MatchString(body) {
				t.Errorf("%s %s: body %s does not match %s", c.method, path, body, c.like)
			}
			if c.want != "" {
				var got, want any
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("%s %s: body is not JSON: %v: %s", c.method, path, err, body)
				}
				if err := json.Unmarshal([]byte(c.want), &want); err != nil {
					t.Fatalf("bad want JSON: %v", err)
				}
				if p, ok := jsonSubset(want, got, ""); !ok {
					t.Errorf("%s %s: at %q body %s does not contain %s", c.method, path, p, body, c.want)
				}
			}
			for h, v := range c.hdr {
				if got := r.Header.Get(h); got != v {
					t.Errorf("%s %s: header %s = %q, want %q", c.method, path, h, got, v)
				}
			}
			if c.save != "" {
				var env struct{ Key string }
				json.Unmarshal([]byte(body), &env)
				saved[c.save] = env.Key[strings.LastIndex(env.Key, "/")+1:]
			}
			if c.check != nil {
				c.check(t, body)
			}
		})
	}
}

func doAdmin(t *testing.T, n *node, c adminCase, path string) response {
	t.Helper()
	key := c.key
	switch key {
	case "":
		key = configuredKey
	case noKey:
		key = ""
	}
	if len(c.header) == 0 {
		return do(t, c.method, n.adminURL(path), key, c.body)
	}
	req, err := http.NewRequest(c.method, n.adminURL(path), strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	for h, v := range c.header {
		req.Header.Set(h, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, path, err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := resp.Body.Read(buf)
		sb.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return response{resp.StatusCode, resp.Header, sb.String()}
}

// jsonSubset reports whether every value in want is present and equal in got; arrays must
// match element by element. It returns the first differing path.
func jsonSubset(want, got any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			if p, ok := jsonSubset(wv, g[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := jsonSubset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	default:
		return path, reflect.DeepEqual(want, got)
	}
}

// valueWithout decodes an answer's value and drops the server-set fields, as APISIX's "not
// unwanted data" tests do before comparing it exactly.
func valueWithout(t *testing.T, body string, drop ...string) string {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	v, _ := env["value"].(map[string]any)
	for _, d := range drop {
		delete(v, d)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func exactValue(want string, drop ...string) func(t *testing.T, body string) {
	return func(t *testing.T, body string) {
		if got := valueWithout(t, body, drop...); got != want {
			t.Errorf("value\n got  %s\n want %s", got, want)
		}
	}
}

func listLen(want, total int) func(t *testing.T, body string) {
	return func(t *testing.T, body string) {
		var l struct {
			List  []json.RawMessage `json:"list"`
			Total int               `json:"total"`
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatalf("not a list: %s", body)
		}
		if len(l.List) != want || (total >= 0 && l.Total != total) {
			t.Errorf("list has %d items (total %d), want %d (total %d): %s", len(l.List), l.Total, want, total, body)
		}
	}
}

const (
	upstream8080 = `{"nodes":{"127.0.0.1:8080":1},"type":"roundrobin"}`
	route1       = `{"methods":["GET"],"upstream":` + upstream8080 + `,"desc":"new route","uri":"/index.html"}`
)

func TestAPISIXAdminRoutes(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	big := `{"upstream":` + upstream8080 + `,"desc":"` + strings.Repeat("a", 1024*1024*16/10) + `","uri":"/index.html"}`
	runAdminCases(t, n, []adminCase{
		{name: "routes.t TEST 1: set route", method: "PUT", path: "/routes/1", body: route1, status: 201,
			want: `{"key":"/apisix/routes/1","value":{"methods":["GET"],"uri":"/index.html","desc":"new route","upstream":{"nodes":{"127.0.0.1:8080":1},"type":"roundrobin"}}}`,
			hdr:  map[string]string{"X-API-VERSION": "v3", "Content-Type": "application/json"}},
		{name: "routes.t TEST 2: get route", method: "GET", path: "/routes/1", status: 200,
			want: `{"key":"/apisix/routes/1","value":{"methods":["GET"],"uri":"/index.html","desc":"new route"}}`,
			check: func(t *testing.T, body string) {
				var env map[string]any
				json.Unmarshal([]byte(body), &env)
				for _, f := range []string{"createdIndex", "modifiedIndex"} {
					if _, ok := env[f].(float64); !ok {
						t.Errorf("GET envelope lacks numeric %s: %s", f, body)
					}
				}
			}},
		{name: "routes.t TEST 3: delete route", method: "DELETE", path: "/routes/1", status: 200,
			exact: `{"deleted":"1","key":"/apisix/routes/1"}`},
		{name: "routes.t TEST 4: delete route not_found", method: "DELETE", path: "/routes/not_found", status: 404,
			exact: `{"message":"Key not found"}`, hdr: map[string]string{"X-API-VERSION": "v3"}},
		{name: "routes.t TEST 5: post route", method: "POST", path: "/routes", status: 201, save: "post",
			body: `{"methods":["GET"],"upstream":` + upstream8080 + `,"uri":"/index.html"}`,
			like: `^\{"key":"/apisix/routes/\d{20}","value":\{`},
		{name: "routes.t TEST 5: delete posted route", method: "DELETE", path: "/routes/{post}", status: 200},
		{name: "routes.t TEST 10: invalid method", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"methods":["invalid_method"],"uri":"/index.html"}`,
			exact: `{"error_msg":"invalid configuration: property \"methods\" validation failed: failed to validate item 1: matches none of the enum values"}`},
		{name: "routes.t TEST 11: invalid service id", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"service_id":"invalid_id$","uri":"/index.html"}`,
			exact: `{"error_msg":"invalid configuration: property \"service_id\" validation failed: object matches none of the required"}`},
		{name: "routes.t TEST 12: service id not exist", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"service_id":"99999999999999","uri":"/index.html"}`,
			exact: `{"error_msg":"failed to fetch service info by service id [99999999999999], response code: 404"}`},
		{name: "routes.t TEST 13: body id differs from URL id", method: "PUT", path: "/routes/1", status: 400,
			body: `{"id":3,"uri":"/index.html"}`, exact: `{"error_msg":"wrong route id"}`},
		{name: "routes.t TEST 14: id in the body", method: "PUT", path: "/routes", status: 201,
			body: `{"id":"1","plugins":{},"uri":"/index.html"}`, want: `{"key":"/apisix/routes/1","value":{"id":"1"}}`},
		{name: "routes.t TEST 15: integer id less than 1", method: "PUT", path: "/routes", status: 400,
			body:  `{"id":-100,"uri":"/index.html"}`,
			exact: `{"error_msg":"invalid configuration: property \"id\" validation failed: object matches none of the required"}`},
		{name: "routes.t TEST 16: invalid upstream_id", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"upstream_id":"invalid$","uri":"/index.html"}`,
			exact: `{"error_msg":"invalid configuration: property \"upstream_id\" validation failed: object matches none of the required"}`},
		{name: "routes.t TEST 17: upstream_id not exist", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"upstream_id":"99999999","uri":"/index.html"}`,
			exact: `{"error_msg":"failed to fetch upstream info by upstream id [99999999], response code: 404"}`},
		{name: "routes.t: PUT without id", method: "PUT", path: "/routes", status: 400,
			body: `{"uri":"/index.html","plugins":{}}`, exact: `{"error_msg":"missing route id"}`},
		{name: "routes.t: POST with id", method: "POST", path: "/routes", status: 400,
			body: `{"id":"1","uri":"/index.html","plugins":{}}`, exact: `{"error_msg":"wrong route id, do not need it"}`},
		{name: "routes.t: POST to an id", method: "POST", path: "/routes/1", status: 400,
			body: `{"uri":"/index.html","plugins":{}}`, exact: `{"error_msg":"wrong route id, do not need it"}`},
		{name: "routes.t: PUT without body", method: "PUT", path: "/routes/1", status: 400,
			exact: `{"error_msg":"missing configurations"}`},
		{name: "routes.t: DELETE without id", method: "DELETE", path: "/routes", status: 400,
			exact: `{"error_msg":"missing route id"}`},
		{name: "routes.t: PATCH without id", method: "PATCH", path: "/routes", status: 400,
			body: `{"uri":"/x"}`, exact: `{"error_msg":"missing route id"}`},
		{name: "routes.t: create_time is forbidden", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"uri":"/index.html","plugins":{},"create_time":1602883670}`,
			exact: `{"error_msg":"the property is forbidden:  create_time"}`},
		{name: "routes.t: update_time is forbidden", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"uri":"/index.html","plugins":{},"update_time":1602883670}`,
			exact: `{"error_msg":"the property is forbidden:  update_time"}`},
		{name: "routes.t: upstream.create_time is forbidden", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"uri":"/index.html","upstream":{"nodes":{"127.0.0.1:8080":1},"type":"roundrobin","create_time":1}}`,
			exact: `{"error_msg":"the property is forbidden:  upstream.create_time"}`},
		{name: "routes2.t TEST 4: bad vars operator", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"methods":["GET"],"vars":[["remote_addr","=","127.0.0.1"]],"upstream":` + upstream8080 + `,"uri":"/index.html"}`,
			exact: `{"error_msg":"failed to validate the 'vars' expression: invalid operator '='"}`},
		{name: "routes2.t TEST 14: remote_addr and remote_addrs", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"uri":"/index.html","upstream":` + upstream8080 + `,"remote_addr":"127.0.0.1","remote_addrs":["127.0.0.1"]}`,
			exact: `{"error_msg":"only one of remote_addr or remote_addrs is allowed"}`},
		{name: "routes2.t TEST 13: uris and uri", method: "PUT", path: "/routes/1", status: 400,
			body: `{"upstream":` + upstream8080 + `,"uris":["/"],"uri":"/"}`, like: `value should match only one schema`},
		{name: "routes2.t TEST 11: empty uris", method: "PUT", path: "/routes/1", status: 400,
			body: `{"upstream":` + upstream8080 + `,"uris":[]}`, like: `property \\"uris\\" validation failed:`},
		{name: "routes2.t TEST 5: not unwanted data, POST", method: "POST", path: "/routes", status: 201, save: "nud",
			body:  `{"methods":["GET"],"upstream":` + upstream8080 + `,"uri":"/not_unwanted_data_post"}`,
			check: exactValue(`{"methods":["GET"],"priority":0,"status":1,"upstream":{"hash_on":"vars","nodes":{"127.0.0.1:8080":1},"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/not_unwanted_data_post"}`, "create_time", "update_time", "id")},
		{name: "routes2.t TEST 5: cleanup", method: "DELETE", path: "/routes/{nud}", status: 200},
		{name: "routes2.t TEST 6: not unwanted data, PUT", method: "PUT", path: "/routes", status: 200,
			body:  `{"id":1,"methods":["GET"],"upstream":` + upstream8080 + `,"uri":"/index.html"}`,
			check: exactValue(`{"id":1,"methods":["GET"],"priority":0,"status":1,"upstream":{"hash_on":"vars","nodes":{"127.0.0.1:8080":1},"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/index.html"}`, "create_time", "update_time")},
		{name: "routes2.t TEST 7: not unwanted data, PATCH", method: "PATCH", path: "/routes/1", status: 200,
			body:  `{"methods":["GET"],"upstream":` + upstream8080 + `,"uri":"/index"}`,
			check: exactValue(`{"id":"1","methods":["GET"],"priority":0,"status":1,"upstream":{"hash_on":"vars","nodes":{"127.0.0.1:8080":1},"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/index"}`, "create_time", "update_time")},
		{name: "routes2.t TEST 8: not unwanted data, GET", method: "GET", path: "/routes/1", status: 200,
			check: exactValue(`{"id":"1","methods":["GET"],"priority":0,"status":1,"upstream":{"hash_on":"vars","nodes":{"127.0.0.1:8080":1},"pass_host":"pass","scheme":"http","type":"roundrobin"},"uri":"/index"}`, "create_time", "update_time")},
		{name: "routes.t: PATCH sub path methods", method: "PATCH", path: "/routes/1/methods", status: 200,
			body: `["POST"]`, want: `{"key":"/apisix/routes/1","value":{"methods":["POST"],"uri":"/index"}}`},
		{name: "routes.t: PATCH sub path uri", method: "PATCH", path: "/routes/1/uri", status: 200,
			body: `"/patch_uri"`, want: `{"value":{"uri":"/patch_uri","methods":["POST"]}}`},
		{name: "routes.t: PATCH sub path upstream/nodes replaces the nodes", method: "PATCH", path: "/routes/1/upstream/nodes", status: 200,
			body: `{"127.0.0.2:8080":1}`,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"nodes":{"127.0.0.2:8080":1}`) {
					t.Errorf("nodes not replaced: %s", body)
				}
			}},
		{name: "routes.t: PATCH merges objects and null deletes", method: "PATCH", path: "/routes/1", status: 200,
			body: `{"desc":"patched","upstream":{"nodes":{"127.0.0.3:8080":1}},"methods":null}`,
			check: func(t *testing.T, body string) {
				if strings.Contains(body, `"methods"`) || !strings.Contains(body, `"127.0.0.2:8080":1`) || !strings.Contains(body, `"127.0.0.3:8080":1`) {
					t.Errorf("merge: %s", body)
				}
			}},
		{name: "routes.t: PATCH with a non-object body", method: "PATCH", path: "/routes/1", status: 400,
			body: `"x"`, exact: `{"error_msg":"invalid configuration"}`},
		{name: "routes.t: PATCH without body", method: "PATCH", path: "/routes/1", status: 400,
			exact: `{"error_msg":"missing new configuration"}`},
		{name: "routes.t: PATCH missing route", method: "PATCH", path: "/routes/not_found", status: 404,
			body: `{"desc":"x"}`, exact: `{"message":"Key not found"}`},
		{name: "routes.t: PATCH result is validated", method: "PATCH", path: "/routes/1", status: 400,
			body: `{"methods":["invalid_method"]}`, like: `^\{"error_msg":"invalid configuration: property \\"methods\\" validation failed`},
		{name: "routes4.t TEST 3: invalid ttl", method: "PUT", path: "/routes?ttl=xxx", status: 400,
			body: `{"upstream":` + upstream8080 + `,"uri":"/index.html"}`, exact: `{"error_msg":"invalid argument ttl: should be a number"}`},
		{name: "routes4.t TEST 1: set route with ttl", method: "PUT", path: "/routes/ttl?ttl=1", status: 201,
			body: `{"upstream":` + upstream8080 + `,"uri":"/index.html"}`},
		{name: "routes4.t TEST 1: get it before it expires", method: "GET", path: "/routes/ttl?ttl=1", status: 200,
			want: `{"key":"/apisix/routes/ttl","value":{"uri":"/index.html"}}`},
		{name: "routes4.t TEST 2: post route with ttl", method: "POST", path: "/routes?ttl=1", status: 201, save: "ttl",
			body: `{"methods":["GET"],"upstream":` + upstream8080 + `,"uri":"/index.html"}`},
		{name: "routes4.t TEST 1: gone after the ttl", method: "GET", path: "/routes/ttl", sleep: 2500 * time.Millisecond,
			status: 404, exact: `{"message":"Key not found"}`},
		{name: "routes4.t TEST 2: posted route gone after the ttl", method: "GET", path: "/routes/{ttl}", status: 404,
			exact: `{"message":"Key not found"}`},
		{name: "routes4.t TEST 6: chash without key", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"methods":["GET"],"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash"},"uri":"/index.html"}`,
			exact: `{"error_msg":"missing key"}`},
		{name: "routes4.t TEST 7: chash hash_on header without key", method: "PUT", path: "/routes/1", status: 400,
			body:  `{"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"header"},"uri":"/index.html"}`,
			exact: `{"error_msg":"missing key"}`},
		{name: "routes4.t TEST 9: chash hash_on consumer needs no key", method: "PUT", path: "/routes/1", status: 200,
			body: `{"upstream":{"nodes":{"127.0.0.1:8080":1},"type":"chash","hash_on":"consumer"},"uri":"/index.html"}`},
		{name: "routes4.t TEST 11: string id", method: "PUT", path: "/routes/a-b-c-ABC_0123", status: 201,
			body: `{"upstream":` + upstream8080 + `,"uri":"/index.html"}`},
		{name: "routes4.t TEST 12: string id delete", method: "DELETE", path: "/routes/a-b-c-ABC_0123", status: 200},
		{name: "routes4.t TEST 13: invalid string id", method: "PUT", path: "/routes/*invalid", status: 400,
			body: `{"upstream":` + upstream8080 + `,"uri":"/index.html"}`},
		{name: "routes4.t TEST 14: Content-Type is application/json", method: "GET", path: "/routes/1?ttl=1", status: 200,
			hdr: map[string]string{"Content-Type": "application/json"}},
		{name: "routes4.t TEST 16: body over 1.5 MiB", method: "PUT", path: "/routes/1", status: 400, body: big,
			exact: fmt.Sprintf(`{"error_msg":"invalid request body: request size %d is greater than the maximum size 1572864 allowed"}`, len(big))},
		{name: "routes_request_body.t: invalid JSON body", method: "PUT", path: "/routes/1", status: 400,
			body: `{"uri":"/index.html"`, like: `^\{"error_msg":"invalid request body: [^"]+","req_body":"\{\\"uri\\":\\"/index.html\\""\}$`},
		{name: "resources.t TEST 1: unsupported resource type", method: "PUT", path: "/routs/1", status: 404,
			body: route1, exact: `{"error_msg":"Unsupported resource type: routs"}`},
		{name: "routes.t: list routes", method: "GET", path: "/routes", status: 200,
			like: `^\{"list":\[\{"key":"/apisix/routes/1","value":\{.*\},"createdIndex":\d+,"modifiedIndex":\d+\}\],"total":1\}$`},
	})
}

func TestAPISIXAdminReferences(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	runAdminCases(t, n, []adminCase{
		{name: "upstream.t: set upstream", method: "PUT", path: "/upstreams/1", body: upstream8080, status: 201,
			want: `{"key":"/apisix/upstreams/1","value":{"nodes":{"127.0.0.1:8080":1},"type":"roundrobin","id":"1"}}`},
		{name: "services.t: set service", method: "PUT", path: "/services/1", body: `{"upstream_id":"1","desc":"new service"}`, status: 201},
		{name: "services.t: wrong service id", method: "PUT", path: "/services/1", body: `{"id":"2","upstream_id":"1"}`, status: 400,
			exact: `{"error_msg":"wrong service id"}`},
		{name: "plugin-configs.t: set plugin config", method: "PUT", path: "/plugin_configs/1",
			body: `{"plugins":{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"}}}`, status: 201},
		{name: "plugin-configs.t: POST is not supported", method: "POST", path: "/plugin_configs",
			body: `{"plugins":{}}`, status: 405, exact: "{\"error_msg\":\"not supported `POST` method for plugin config\"}"},
		{name: "routes.t: route on service, upstream and plugin config", method: "PUT", path: "/routes/1", status: 201,
			body: `{"uri":"/hello","service_id":"1","upstream_id":"1","plugin_config_id":"1"}`},
		{name: "plugin-configs.t: plugin_config_id not exist", method: "PUT", path: "/routes/2", status: 400,
			body:  `{"uri":"/hello","upstream_id":"1","plugin_config_id":"9"}`,
			exact: `{"error_msg":"failed to fetch plugin config info by plugin config id [9], response code: 404"}`},
		{name: "delete-upstream.t: upstream used by a route", method: "DELETE", path: "/upstreams/1", status: 400,
			exact: `{"error_msg":"can not delete this upstream, route [1] is still using it now"}`},
		{name: "delete-service.t: service used by a route", method: "DELETE", path: "/services/1", status: 400,
			exact: `{"error_msg":"can not delete this service directly, route [1] is still using it now"}`},
		{name: "delete-plugin-configs.t: plugin config used by a route", method: "DELETE", path: "/plugin_configs/1", status: 400,
			exact: `{"error_msg":"can not delete this plugin config, route [1] is still using it now"}`},
		{name: "plugin-configs-force-delete.t: force delete", method: "DELETE", path: "/plugin_configs/1?force=true", status: 200,
			exact: `{"deleted":"1","key":"/apisix/plugin_configs/1"}`},
		{name: "services-force-delete.t: force delete", method: "DELETE", path: "/services/1?force=true", status: 200},
		{name: "upstream-force-delete.t: route removed", method: "DELETE", path: "/routes/1", status: 200},
		{name: "delete-upstream.t: service on the upstream", method: "PUT", path: "/services/2", body: `{"upstream_id":"1"}`, status: 201},
		{name: "delete-upstream.t: upstream used by a service", method: "DELETE", path: "/upstreams/1", status: 400,
			exact: `{"error_msg":"can not delete this upstream, service [2] is still using it now"}`},
		{name: "delete-upstream.t: service removed", method: "DELETE", path: "/services/2", status: 200},
		{name: "delete-upstream.t: traffic-split on the upstream", method: "PUT", path: "/routes/3", status: 201,
			body: `{"uri":"/ts","upstream":` + upstream8080 + `,"plugins":{"traffic-split":{"rules":[{"weighted_upstreams":[{"upstream_id":"1","weight":1}]}]}}}`},
		{name: "delete-upstream.t: upstream used by a plugin", method: "DELETE", path: "/upstreams/1", status: 400,
			exact: `{"error_msg":"can not delete this upstream, plugin in route [3] is still using it now"}`},
		{name: "upstream-force-delete.t: force delete", method: "DELETE", path: "/upstreams/1?force=true", status: 200,
			exact: `{"deleted":"1","key":"/apisix/upstreams/1"}`},
		{name: "upstream.t: missing upstream", method: "GET", path: "/upstreams/1", status: 404, exact: `{"message":"Key not found"}`},
		{name: "upstream.t: POST upstream", method: "POST", path: "/upstreams", body: upstream8080, status: 201,
			like: `^\{"key":"/apisix/upstreams/\d{20}"`},
		{name: "upstream.t: type chash without key", method: "PUT", path: "/upstreams/2", status: 400,
			body: `{"nodes":{"127.0.0.1:8080":1},"type":"chash"}`, exact: `{"error_msg":"missing key"}`},
		{name: "proto.t: set proto", method: "PUT", path: "/protos/1", status: 201,
			body: `{"content":"syntax = \"proto3\";\npackage proto;\nmessage HelloRequest{ string name = 1; }\nmessage HelloResponse{ int32 code = 1; string msg = 2; }\nservice Hello { rpc SayHi (HelloRequest) returns (HelloResponse){} }"}`},
		{name: "proto.t: PATCH is not supported", method: "PATCH", path: "/protos/1", status: 405,
			body: `{"desc":"x"}`, exact: "{\"error_msg\":\"not supported `PATCH` method for proto\"}"},
		{name: "proto.t: route with grpc-transcode", method: "PUT", path: "/routes/4", status: 201,
			body: `{"uri":"/grpc","upstream":` + upstream8080 + `,"plugins":{"grpc-transcode":{"proto_id":"1","service":"proto.Hello","method":"SayHi"}}}`},
		{name: "proto.t: delete proto in use", method: "DELETE", path: "/protos/1", status: 400,
			exact: `{"error_msg":"can not delete this proto, route [4] is still using it now"}`},
		{name: "protos-force-delete.t: force delete", method: "DELETE", path: "/protos/1?force=true", status: 200},
	})
}

func TestAPISIXAdminConsumers(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	runAdminCases(t, n, []adminCase{
		{name: "credentials.t TEST 1: consumer not found", method: "PUT", path: "/consumers/jack/credentials/credential_a",
			body: `{"plugins":{"key-auth":{"key":"the-key"}}}`, status: 404, exact: `{"error_msg":"consumer not found"}`},
		{name: "credentials.t TEST 2: add consumer without id in the URL", method: "PUT", path: "/consumers", status: 201,
			body: `{"username":"jack","desc":"new consumer","plugins":{"basic-auth":{"username":"the-user","password":"the-password"}}}`,
			want: `{"key":"/apisix/consumers/jack","value":{"username":"jack","desc":"new consumer"}}`},
		{name: "credentials.t TEST 3: basic-auth credential", method: "PUT", path: "/consumers/jack/credentials/credential_a", status: 201,
			body: `{"desc":"basic-auth for jack","plugins":{"basic-auth":{"username":"the-user","password":"the-password"}}}`,
			want: `{"key":"/apisix/consumers/jack/credentials/credential_a","value":{"desc":"basic-auth for jack","id":"credential_a"}}`},
		{name: "credentials.t TEST 4: key-auth credential", method: "PUT", path: "/consumers/jack/credentials/credential_b", status: 201,
			body: `{"desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key"}}}`,
			want: `{"key":"/apisix/consumers/jack/credentials/credential_b","value":{"id":"credential_b"}}`},
		{name: "credentials.t TEST 5: non-auth plugin in a credential", method: "PUT", path: "/consumers/jack/credentials/credential_b", status: 400,
			body:  `{"plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"rejected_code":503,"key_type":"var","key":"http_a"}}}`,
			exact: `{"error_msg":"only supports auth type plugins in consumer credential"}`},
		{name: "credentials.t TEST 6: consumer list omits credentials", method: "GET", path: "/consumers", status: 200,
			want: `{"total":1,"list":[{"key":"/apisix/consumers/jack"}]}`},
		{name: "credentials.t TEST 7: list credentials", method: "GET", path: "/consumers/jack/credentials", status: 200,
			want: `{"total":2,"list":[{"key":"/apisix/consumers/jack/credentials/credential_a"},{"key":"/apisix/consumers/jack/credentials/credential_b"}]}`},
		{name: "credentials.t TEST 8: get a credential", method: "GET", path: "/consumers/jack/credentials/credential_b", status: 200,
			want: `{"key":"/apisix/consumers/jack/credentials/credential_b","value":{"desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key"}}}}`},
		{name: "credentials.t TEST 9: update credential", method: "PUT", path: "/consumers/jack/credentials/credential_b", status: 200,
			body: `{"desc":"new description","plugins":{"key-auth":{"key":"new-key"}}}`,
			want: `{"key":"/apisix/consumers/jack/credentials/credential_b","value":{"desc":"new description"}}`},
		{name: "credentials.t TEST 10: delete credential", method: "DELETE", path: "/consumers/jack/credentials/credential_a", status: 200,
			exact: `{"deleted":"1","key":"/apisix/consumers/jack/credentials/credential_a"}`},
		{name: "credentials.t TEST 10: one credential left", method: "GET", path: "/consumers/jack/credentials", status: 200,
			want: `{"total":1,"list":[{"key":"/apisix/consumers/jack/credentials/credential_b"}]}`},
		{name: "credentials.t TEST 11: more than one plugin", method: "PUT", path: "/consumers/jack/credentials/xxx-yyy-zzz", status: 400,
			body:  `{"plugins":{"key-auth":{"key":"the-key"},"basic-auth":{"username":"the-user","password":"the-password"}}}`,
			exact: `{"error_msg":"invalid configuration: property \"plugins\" validation failed: expect object to have at most 1 properties"}`},
		{name: "credentials.t: POST is not supported", method: "POST", path: "/consumers/jack/credentials", status: 405,
			body: `{"plugins":{"key-auth":{"key":"k"}}}`, exact: "{\"error_msg\":\"not supported `POST` method for credential\"}"},
		{name: "consumers.t: duplicate key across consumers", method: "PUT", path: "/consumers/rose", status: 400,
			body:  `{"username":"rose","plugins":{"key-auth":{"key":"new-key"}}}`,
			exact: `{"error_msg":"duplicate key of plugin key-auth found with credential: credential_b of consumer: jack"}`},
		{name: "credentials.t TEST 12: delete consumer", method: "DELETE", path: "/consumers/jack", status: 200,
			exact: `{"deleted":"1","key":"/apisix/consumers/jack"}`},
		{name: "credentials.t TEST 13: credentials gone with the consumer", method: "GET", path: "/consumers/jack/credentials", status: 404,
			exact: `{"message":"Key not found"}`},
		{name: "credentials.t TEST 14: add consumer", method: "PUT", path: "/consumers", body: `{"username":"jack"}`, status: 201},
		{name: "credentials.t TEST 15: credential id only in the body", method: "PUT", path: "/consumers/jack/credentials", status: 201,
			body: `{"id":"d79a5aa3","desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key"}}}`,
			want: `{"key":"/apisix/consumers/jack/credentials/d79a5aa3","value":{"id":"d79a5aa3"}}`},
		{name: "credentials.t TEST 16: credential id missing", method: "PUT", path: "/consumers/jack/credentials", status: 400,
			body: `{"desc":"key-auth for jack","plugins":{"key-auth":{"key":"the-key"}}}`, exact: `{"error_msg":"missing credential id"}`},
		{name: "consumers.t: username differs from the URL", method: "PUT", path: "/consumers/jack", status: 400,
			body: `{"username":"rose"}`, exact: `{"error_msg":"wrong username"}`},
		{name: "consumers.t: missing username", method: "PUT", path: "/consumers", status: 400,
			body: `{"desc":"x"}`, exact: `{"error_msg":"invalid configuration: property \"username\" is required"}`},
		{name: "consumers.t: POST is not supported", method: "POST", path: "/consumers", status: 405,
			body: `{"username":"rose"}`, exact: "{\"error_msg\":\"not supported `POST` method for consumer\"}"},
		{name: "consumers.t: PATCH is not supported", method: "PATCH", path: "/consumers/jack", status: 405,
			body: `{"desc":"x"}`, exact: "{\"error_msg\":\"not supported `PATCH` method for consumer\"}"},
		{name: "consumers.t: duplicate key", method: "PUT", path: "/consumers", status: 201,
			body: `{"username":"rose","plugins":{"key-auth":{"key":"auth-one"}}}`},
		{name: "consumers.t: duplicate key refused", method: "PUT", path: "/consumers", status: 400,
			body:  `{"username":"tom","plugins":{"key-auth":{"key":"auth-one"}}}`,
			exact: `{"error_msg":"duplicate key of plugin key-auth found with consumer: rose"}`},
		{name: "consumer-group.t: set consumer group", method: "PUT", path: "/consumer_groups/company_a", status: 201,
			body: `{"plugins":{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"}}}`,
			want: `{"key":"/apisix/consumer_groups/company_a","value":{"id":"company_a"}}`},
		{name: "consumer-group.t: POST is not supported", method: "POST", path: "/consumer_groups", status: 405,
			body: `{"plugins":{}}`, exact: "{\"error_msg\":\"not supported `POST` method for consumer group\"}"},
		{name: "consumer-group.t: PATCH consumer group", method: "PATCH", path: "/consumer_groups/company_a", status: 200,
			body: `{"desc":"patched"}`, want: `{"value":{"desc":"patched","id":"company_a"}}`},
		{name: "consumer-group.t: consumer with group_id", method: "PUT", path: "/consumers", status: 201,
			body: `{"username":"foo","group_id":"company_a"}`},
		{name: "consumer-group.t: group_id not exist", method: "PUT", path: "/consumers", status: 400,
			body:  `{"username":"bar","group_id":"company_b"}`,
			exact: `{"error_msg":"failed to fetch consumer group info by consumer group id [company_b], response code: 404"}`},
		{name: "consumer-group-force-delete.t: group in use", method: "DELETE", path: "/consumer_groups/company_a", status: 400,
			exact: `{"error_msg":"can not delete this consumer group, consumer [foo] is still using it now"}`},
		{name: "consumer-group-force-delete.t: force delete", method: "DELETE", path: "/consumer_groups/company_a?force=true", status: 200},
	})
}

func TestAPISIXAdminObjects(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	cert, key := selfSigned(t, "test.com")
	ssl, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "sni": "test.com"})
	runAdminCases(t, n, []adminCase{
		{name: "global-rules.t: set global rule", method: "PUT", path: "/global_rules/1", status: 201,
			body: `{"plugins":{"limit-count":{"count":2,"time_window":60,"rejected_code":503,"key":"remote_addr"}}}`,
			want: `{"key":"/apisix/global_rules/1","value":{"id":"1"}}`},
		{name: "global-rules.t: POST is not supported", method: "POST", path: "/global_rules", status: 405,
			body: `{"plugins":{}}`, exact: "{\"error_msg\":\"not supported `POST` method for global rule\"}"},
		{name: "global-rules.t: PATCH sub path plugins", method: "PATCH", path: "/global_rules/1/plugins", status: 200,
			body: `{"limit-count":{"count":3,"time_window":60,"rejected_code":503,"key":"remote_addr"}}`,
			want: `{"key":"/apisix/global_rules/1","value":{"plugins":{"limit-count":{"count":3}}}}`},
		{name: "global-rules.t: delete", method: "DELETE", path: "/global_rules/1", status: 200},
		{name: "global-rules.t: delete not found", method: "DELETE", path: "/global_rules/1", status: 404, exact: `{"message":"Key not found"}`},

		{name: "plugin-metadata.t TEST 1: add plugin metadata", method: "PUT", path: "/plugin_metadata/http-logger", status: 201,
			body: `{"log_format":{"host":"$host"}}`, want: `{"key":"/apisix/plugin_metadata/http-logger","value":{"log_format":{"host":"$host"}}}`},
		{name: "plugin-metadata.t TEST 2: update plugin metadata", method: "PUT", path: "/plugin_metadata/http-logger", status: 200,
			body: `{"log_format":{"host":"$host","x":"$remote_addr"}}`},
		{name: "plugin-metadata.t TEST 3: get plugin metadata", method: "GET", path: "/plugin_metadata/http-logger", status: 200,
			want: `{"key":"/apisix/plugin_metadata/http-logger","value":{"log_format":{"x":"$remote_addr"}}}`},
		{name: "plugin-metadata.t TEST 4: delete plugin metadata", method: "DELETE", path: "/plugin_metadata/http-logger", status: 200,
			exact: `{"deleted":"1","key":"/apisix/plugin_metadata/http-logger"}`},
		{name: "plugin-metadata.t TEST 5: delete not found", method: "DELETE", path: "/plugin_metadata/not_found", status: 404},
		{name: "plugin-metadata.t TEST 6: missing plugin name", method: "PUT", path: "/plugin_metadata", status: 400,
			body: `{"k":"v"}`, exact: `{"error_msg":"missing plugin name"}`},
		{name: "plugin-metadata.t TEST 7: invalid plugin name", method: "PUT", path: "/plugin_metadata/test", status: 400,
			body: `{"k":"v"}`, exact: `{"error_msg":"invalid plugin name"}`},
		{name: "plugin-metadata.t: POST is not supported", method: "POST", path: "/plugin_metadata", status: 405,
			body: `{"k":"v"}`, exact: "{\"error_msg\":\"not supported `POST` method for plugin_metadata\"}"},

		{name: "secrets.t TEST 1: PUT", method: "PUT", path: "/secrets/vault/test1", status: 201,
			body: `{"uri":"http://127.0.0.1:12800/get","prefix":"apisix","token":"apisix"}`,
			want: `{"key":"/apisix/secrets/vault/test1","value":{"uri":"http://127.0.0.1:12800/get","prefix":"apisix"}}`},
		{name: "secrets.t TEST 2: GET", method: "GET", path: "/secrets/vault/test1", status: 200,
			want: `{"key":"/apisix/secrets/vault/test1","value":{"uri":"http://127.0.0.1:12800/get","prefix":"apisix","token":"apisix"}}`},
		{name: "secrets.t TEST 3: GET all", method: "GET", path: "/secrets", status: 200,
			want: `{"total":1,"list":[{"key":"/apisix/secrets/vault/test1","value":{"prefix":"apisix","token":"apisix"}}]}`},
		{name: "secrets.t TEST 4: PATCH sub path", method: "PATCH", path: "/secrets/vault/test1/token", status: 200,
			body: `"unknown"`, want: `{"key":"/apisix/secrets/vault/test1"}`},
		{name: "secrets.t TEST 4: patched", method: "GET", path: "/secrets/vault/test1", status: 200,
			want: `{"value":{"token":"unknown"}}`},
		{name: "secrets.t TEST 5: PATCH", method: "PATCH", path: "/secrets/vault/test1", status: 200,
			body: `{"uri":"http://127.0.0.1:12800/get","prefix":"apisix","token":"apisix"}`, want: `{"key":"/apisix/secrets/vault/test1"}`},
		{name: "secrets.t TEST 6: DELETE", method: "DELETE", path: "/secrets/vault/test1", status: 200,
			exact: `{"deleted":"1","key":"/apisix/secrets/vault/test1"}`},
		{name: "secrets.t TEST 7: invalid uri", method: "PUT", path: "/secrets/vault/test1", status: 400,
			body: `{"uri":"/get","prefix":"apisix","token":"apisix"}`, like: `validation failed: failed to match pattern`},
		{name: "secrets.t: POST is not supported", method: "POST", path: "/secrets/vault", status: 405,
			body: `{"uri":"http://127.0.0.1:12800/get","prefix":"apisix","token":"apisix"}`, exact: "{\"error_msg\":\"not supported `POST` method for secret\"}"},

		{name: "ssl.t: set ssl", method: "PUT", path: "/ssls/1", body: string(ssl), status: 201,
			want: `{"key":"/apisix/ssls/1","value":{"sni":"test.com"}}`},
		{name: "ssl.t: get ssl hides the key", method: "GET", path: "/ssls/1", status: 200,
			want: `{"key":"/apisix/ssls/1","value":{"sni":"test.com"}}`,
			check: func(t *testing.T, body string) {
				if strings.Contains(body, `"key":"`+"-----") || strings.Contains(body, "PRIVATE KEY") {
					t.Errorf("private key shown: %s", body)
				}
			}},
		{name: "ssl.t: list ssls hides the key", method: "GET", path: "/ssls", status: 200,
			check: func(t *testing.T, body string) {
				if strings.Contains(body, "PRIVATE KEY") {
					t.Errorf("private key shown: %s", body)
				}
			}},
		{name: "ssl.t: delete ssl", method: "DELETE", path: "/ssls/1", status: 200, exact: `{"deleted":"1","key":"/apisix/ssls/1"}`},

		{name: "stream-routes-disable.t: stream mode off", method: "PUT", path: "/stream_routes/1", status: 400,
			body:  `{"remote_addr":"127.0.0.1","upstream":` + upstream8080 + `}`,
			exact: `{"error_msg":"stream mode is disabled, can not add stream routes"}`},
		{name: "stream-routes-disable.t: stream mode off, GET", method: "GET", path: "/stream_routes", status: 400,
			exact: `{"error_msg":"stream mode is disabled, can not add stream routes"}`},
	})
}

func TestAPISIXAdminStreamRoutes(t *testing.T) {
	p := newPorts(t)
	cfg := strings.Replace(p.configYAML(keyConfig(), ""), "apisix:\n", "apisix:\n  proxy_mode: http&stream\n", 1)
	n := startNode(t, p, cfg, "")
	runAdminCases(t, n, []adminCase{
		{name: "stream_plugins: prometheus is not in the default list", method: "PUT", path: "/stream_routes/p", status: 400,
			body: `{"plugins":{"prometheus":{}},"upstream":` + upstream8080 + `}`, exact: `{"error_msg":"unknown plugin [prometheus]"}`},
		{name: "stream_plugins: the default list", method: "GET", path: "/plugins/list?subsystem=stream", status: 200,
			check: func(t *testing.T, body string) {
				for _, name := range []string{"ip-restriction", "limit-conn", "syslog", "traffic-split"} {
					if !strings.Contains(body, `"`+name+`"`) {
						t.Errorf("stream list lacks %s: %s", name, body)
					}
				}
				if strings.Contains(body, `"prometheus"`) {
					t.Errorf("stream list has prometheus without stream_plugins naming it: %s", body)
				}
			}},
		{name: "stream-routes.t: set stream route", method: "PUT", path: "/stream_routes/1", status: 201,
			body: `{"remote_addr":"127.0.0.1","desc":"test-desc","upstream":` + upstream8080 + `}`,
			want: `{"key":"/apisix/stream_routes/1","value":{"remote_addr":"127.0.0.1","desc":"test-desc"}}`},
		{name: "stream-routes.t: get stream route", method: "GET", path: "/stream_routes/1", status: 200,
			want: `{"key":"/apisix/stream_routes/1","value":{"remote_addr":"127.0.0.1"}}`},
		{name: "stream-routes.t: post stream route", method: "POST", path: "/stream_routes", status: 201, save: "sr",
			body: `{"remote_addr":"127.0.0.1","upstream":` + upstream8080 + `}`, like: `^\{"key":"/apisix/stream_routes/\d{20}"`},
		{name: "stream-routes.t: delete posted", method: "DELETE", path: "/stream_routes/{sr}", status: 200},
		{name: "stream-routes.t: PATCH is not supported", method: "PATCH", path: "/stream_routes/1", status: 405,
			body: `{"desc":"x"}`, exact: "{\"error_msg\":\"not supported `PATCH` method for stream route\"}"},
		{name: "stream-routes.t: delete", method: "DELETE", path: "/stream_routes/1", status: 200,
			exact: `{"deleted":"1","key":"/apisix/stream_routes/1"}`},
		{name: "stream-routes.t: delete not found", method: "DELETE", path: "/stream_routes/1", status: 404,
			exact: `{"message":"Key not found"}`},
		{name: "stream-routes.t: upstream_id not exist", method: "PUT", path: "/stream_routes/1", status: 400,
			body:  `{"remote_addr":"127.0.0.1","upstream_id":"1"}`,
			exact: `{"error_msg":"failed to fetch upstream info by upstream id [1], response code: 404"}`},
	})
}

func TestAPISIXAdminPluginsAndSchema(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	runAdminCases(t, n, []adminCase{
		{name: "plugins.t: list plugins", method: "GET", path: "/plugins/list", status: 200,
			check: func(t *testing.T, body string) {
				var names []string
				if err := json.Unmarshal([]byte(body), &names); err != nil || len(names) == 0 {
					t.Fatalf("not a list of names: %s", body)
				}
				// Sorted by priority, highest first: real-ip (23000) before key-auth (2500).
				pos := map[string]int{}
				for i, s := range names {
					pos[s] = i
				}
				if _, ok := pos["key-auth"]; !ok || pos["real-ip"] > pos["key-auth"] {
					t.Errorf("order: %v", names)
				}
			}},
		{name: "plugins.t: list stream plugins", method: "GET", path: "/plugins/list?subsystem=stream", status: 200,
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"ip-restriction"`) || strings.Contains(body, `"key-auth"`) {
					t.Errorf("stream list: %s", body)
				}
			}},
		{name: "plugins.t: get plugin schema", method: "GET", path: "/plugins/key-auth", status: 200,
			want: `{"type":"object"}`},
		{name: "plugins.t: get consumer schema", method: "GET", path: "/plugins/key-auth?schema_type=consumer", status: 200,
			like: `"key"`},
		{name: "plugins.t: plugin not found", method: "GET", path: "/plugins/not-exist", status: 404,
			exact: `{"error_msg":"plugin not found in subsystem http"}`},
		{name: "plugins.t: stream plugin schema", method: "GET", path: "/plugins/ip-restriction?subsystem=stream", status: 200, want: `{"type":"object"}`},
		{name: "plugins-reload.t: reload", method: "PUT", path: "/plugins/reload", status: 200, exact: "done"},
		{name: "plugins-reload.t: GET reload", method: "GET", path: "/plugins/reload", status: 405,
			exact: `{"error_msg":"please use PUT method to reload the plugins, GET method is not allowed."}`},
		{name: "plugins.t: PUT on plugins is not routed", method: "PUT", path: "/plugins/list", status: 404,
			body: `{}`, exact: `{"error_msg":"not found"}`},
		{name: "plugins.t: invalid subsystem", method: "GET", path: "/plugins/list?subsystem=tcp", status: 400,
			exact: "invalid subsystem passed"},
		{name: "schema.t: PUT on schema is not routed", method: "PUT", path: "/schema/route", status: 404,
			body: `{}`, exact: `{"error_msg":"not found"}`},
		{name: "schema-validate.t: unknown resource", method: "POST", path: "/schema/validate/routs", status: 404,
			body: `{}`, exact: `{"error_msg":"Unsupported resource type: routs"}`},
		{name: "schema.t: route schema", method: "GET", path: "/schema/route", status: 200, want: `{"type":"object"}`},
		{name: "schema.t: upstream schema", method: "GET", path: "/schema/upstream", status: 200, want: `{"type":"object"}`},
		{name: "schema.t: plugin schema", method: "GET", path: "/schema/plugins/limit-count", status: 200, want: `{"type":"object"}`},
		{name: "schema.t: not found schema", method: "GET", path: "/schema/not-exist", status: 400,
			exact: `{"error_msg":"not found schema: not-exist"}`},
		{name: "schema-validate.t: valid route", method: "POST", path: "/schema/validate/routes", status: 200,
			body: `{"uri":"/httpbin/*","upstream":{"scheme":"https","type":"roundrobin","nodes":{"nghttp2.org":1}}}`},
		{name: "schema-validate.t: invalid route", method: "POST", path: "/schema/validate/routes", status: 400,
			body: `{"uri":1,"upstream":` + upstream8080 + `}`, like: `^\{"error_msg":".*property \\"uri\\" validation failed: wrong type: expected string, got number`},
	})
}

func TestAPISIXAdminAuth(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	const viewer = "viewer-key-0123456789"
	routeBody := `{"upstream":` + upstream8080 + `,"uri":"/index.html"}`
	runAdminCases(t, n, []adminCase{
		{name: "token.t TEST 1: set route without token", method: "PUT", path: "/routes/1", key: noKey, body: routeBody, status: 401,
			want: `{"error_msg":"failed to check token","description":"missing apikey"}`,
			hdr:  map[string]string{"X-API-VERSION": ""}},
		{name: "token.t TEST 2: set route with wrong token", method: "PUT", path: "/routes/1", key: "wrong_key", body: routeBody, status: 401,
			want: `{"error_msg":"failed to check token","description":"wrong apikey"}`},
		{name: "token.t TEST 3: set route with correct token", method: "PUT", path: "/routes/1", body: routeBody, status: 201},
		{name: "token.t TEST 4: plugins list needs the token", method: "GET", path: "/plugins/list", key: noKey, status: 401},
		{name: "token.t TEST 5: reload needs the token", method: "PUT", path: "/plugins/reload", key: noKey, status: 401},
		{name: "token.t TEST 6: api_key argument", method: "PUT", path: "/plugins/reload?api_key=" + configuredKey, key: noKey, status: 200},
		{name: "token.t TEST 7: X-API-KEY header", method: "PUT", path: "/plugins/reload", status: 200},
		{name: "token.t TEST 8: viewer may not reload", method: "PUT", path: "/plugins/reload?api_key=" + viewer, key: noKey, status: 401,
			want: `{"error_msg":"failed to check token","description":"invalid method for role viewer"}`},
		{name: "token.t TEST 9: malformed query carries no key", method: "GET", path: "/routes??api_key=" + viewer, key: noKey, status: 401},
		{name: "token.t TEST 10: access without api key", method: "GET", path: "/routes", key: noKey, status: 401},
		{name: "token.t: viewer may read", method: "GET", path: "/routes", key: viewer, status: 200},
		{name: "token.t: viewer may not write", method: "DELETE", path: "/routes/1", key: viewer, status: 401,
			want: `{"description":"invalid method for role viewer"}`},
		{name: "token.t: cookie x_api_key", method: "GET", path: "/routes/1", key: noKey,
			header: map[string]string{"Cookie": "x_api_key=" + configuredKey}, status: 200},
		{name: "token.t: query wins over header", method: "GET", path: "/routes/1?api_key=wrong", status: 401,
			want: `{"description":"wrong apikey"}`},
		{name: "api.t TEST 5: X-API-VERSION v3", method: "GET", path: "/routes", status: 200,
			hdr: map[string]string{"X-API-VERSION": "v3"}},
		{name: "api.t TEST 6: CORS header", method: "GET", path: "/routes", status: 200,
			hdr: map[string]string{"Access-Control-Allow-Origin": "*"}},
		{name: "api.t: CORS preflight", method: "OPTIONS", path: "/routes", key: noKey, status: 200,
			hdr: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, GET, PUT, OPTIONS, DELETE, PATCH"}},
		{name: "api.t: HEAD /apisix/admin", method: "HEAD", path: "", key: noKey, status: 200},
	})

	// api.t TEST 7 and token.t TEST 11: CORS off, no key required.
	p2 := newPorts(t)
	n2 := startNode(t, p2, p2.configYAML("    admin_key_required: false\n    enable_admin_cors: false\n", ""), "")
	runAdminCases(t, n2, []adminCase{
		{name: "token.t TEST 11: no key required", method: "GET", path: "/routes", key: noKey, status: 200,
			exact: `{"list":[],"total":0}`},
		{name: "api.t TEST 7: CORS header disabled", method: "GET", path: "/routes", key: noKey, status: 200,
			hdr: map[string]string{"Access-Control-Allow-Origin": ""}},
	})
}

func TestAPISIXAdminPagingAndFilters(t *testing.T) {
	p := newPorts(t)
	cfg := strings.Replace(p.configYAML(keyConfig(), ""), "apisix:\n", "apisix:\n  proxy_mode: http&stream\n", 1)
	n := startNode(t, p, cfg, "")
	var cases []adminCase
	cases = append(cases,
		adminCase{name: "filter.t TEST 17: service", method: "PUT", path: "/services/1", body: `{"upstream":` + upstream8080 + `}`, status: 201},
		adminCase{name: "filter.t TEST 17: upstream", method: "PUT", path: "/upstreams/1", body: upstream8080, status: 201})
	for i := 1; i <= 11; i++ {
		ref := `"upstream_id":"1"`
		if i%2 == 0 {
			ref = `"service_id":"1"`
		}
		cases = append(cases,
			adminCase{name: fmt.Sprintf("filter.t TEST 8: route %d", i), method: "PUT", path: fmt.Sprintf("/routes/%d", i), status: 201,
				body: fmt.Sprintf(`{"name":"%d","uri":"/hello%d",%s,"labels":{"%d":"%d"}}`, i, i, ref, i, i)},
			adminCase{name: fmt.Sprintf("filter.t TEST 18: stream route %d", i), method: "PUT", path: fmt.Sprintf("/stream_routes/%d", i), status: 201,
				body: fmt.Sprintf(`{"server_port":5432,%s}`, ref)})
	}
	cases = append(cases,
		adminCase{name: "filter.t TEST 1: bad page_size", method: "GET", path: "/routes/?page=1&page_size=2", status: 400,
			exact: "page_size must be between 10 and 500"},
		adminCase{name: "pagination.t TEST 2: bad page means page 1", method: "GET", path: "/routes/?page=-1&page_size=10", status: 200,
			check: listLen(10, 11)},
		adminCase{name: "pagination.t TEST 3: sorted by createdIndex", method: "GET", path: "/routes/?page=1&page_size=10", status: 200,
			check: func(t *testing.T, body string) {
				var l struct {
					List []struct{ CreatedIndex int64 } `json:"list"`
				}
				json.Unmarshal([]byte(body), &l)
				for i := 1; i < len(l.List); i++ {
					if l.List[i-1].CreatedIndex >= l.List[i].CreatedIndex {
						t.Errorf("not sorted by createdIndex: %s", body)
					}
				}
			}},
		adminCase{name: "pagination.t TEST 4: page 2", method: "GET", path: "/routes/?page=2&page_size=10", status: 200, check: listLen(1, 11)},
		adminCase{name: "pagination.t TEST 4: page 3", method: "GET", path: "/routes/?page=3&page_size=10", status: 200, check: listLen(0, 11)},
		adminCase{name: "filter.t TEST 16: page 10 keeps the total", method: "GET", path: "/routes?page=10&page_size=10", status: 200, check: listLen(0, 11)},
		adminCase{name: "filter.t TEST 15: unfiltered total", method: "GET", path: "/routes", status: 200, check: listLen(11, 11)},
		adminCase{name: "filter.t TEST 15: empty label", method: "GET", path: "/routes/?label=", status: 200, check: listLen(0, 0)},
		adminCase{name: "filter.t TEST 6: name", method: "GET", path: "/routes/?name=1", status: 200, check: listLen(3, 3)},
		adminCase{name: "filter.t TEST 6: label", method: "GET", path: "/routes/?label=1", status: 200, check: listLen(1, 1)},
		adminCase{name: "filter.t TEST 9: filter then paginate", method: "GET", path: "/routes/?name=1&page=1&page_size=10", status: 200, check: listLen(3, 3)},
		adminCase{name: "filter.t TEST 10: uri", method: "GET", path: "/routes/?uri=hello1", status: 200, check: listLen(3, 3)},
		adminCase{name: "filter.t TEST 13: uri and label", method: "GET", path: "/routes/?uri=hello1&label=10", status: 200, check: listLen(1, 1)},
		adminCase{name: "filter.t TEST 17: service_id", method: "GET", path: "/routes?filter=service_id%3D1", status: 200, check: listLen(5, 5)},
		adminCase{name: "filter.t TEST 17: upstream_id", method: "GET", path: "/routes?filter=upstream_id%3D1", status: 200, check: listLen(6, 6)},
		adminCase{name: "filter.t TEST 18: stream service_id", method: "GET", path: "/stream_routes?filter=service_id%3D1", status: 200, check: listLen(5, 5)},
		adminCase{name: "filter.t TEST 18: stream upstream_id", method: "GET", path: "/stream_routes?filter=upstream_id%3D1", status: 200, check: listLen(6, 6)},
		adminCase{name: "pagination.t TEST 5: services page 1", method: "GET", path: "/services/?page=1&page_size=10", status: 200, check: listLen(1, 1)},
	)
	runAdminCases(t, n, cases)
}
