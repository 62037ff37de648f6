package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The plugin hierarchy through the real binary (plugins.md §0 "Where a plugin can be
// configured", §1 _meta): the same plugin (echo, prefixing the body with its source) on a
// service, a plugin_config, a route, a consumer group and a consumer; the copy with the right
// precedence runs — Consumer > Consumer Group > Route > Plugin Config > Service. Global rules
// run for unmatched requests; _meta.filter, disable, error_response and priority are honoured;
// the control API shows the order and the source of each plugin.
func TestPluginsHierarchy(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)
	up := upstreamOf(o)
	echo := func(src string) string { return fmt.Sprintf(`{"before_body":"%s:"}`, src) }

	putAll(t, n, o, [][2]string{
		{"/services/hs", fmt.Sprintf(`{"plugins":{"echo":%s},"upstream":%s}`, echo("service"), up)},
		{"/plugin_configs/hpc", fmt.Sprintf(`{"plugins":{"echo":%s}}`, echo("plugin_config"))},
		{"/consumer_groups/hg", fmt.Sprintf(`{"plugins":{"echo":%s,"proxy-rewrite":{"headers":{"set":{"X-From-Group":"g"}}}}}`, echo("group"))},
		// hc: own echo and a group; hn: the group only; hp: neither
		{"/consumers", fmt.Sprintf(`{"username":"hc","group_id":"hg","plugins":{"key-auth":{"key":"hc-key"},"echo":%s,`+
			`"proxy-rewrite":{"headers":{"set":{"X-From-Consumer":"$consumer_name"}}}}}`, echo("consumer"))},
		{"/consumers", `{"username":"hn","group_id":"hg","plugins":{"key-auth":{"key":"hn-key"}}}`},
		{"/consumers", `{"username":"hp","plugins":{"key-auth":{"key":"hp-key"}}}`},

		{"/routes/h-svc", `{"uri":"/h/svc","service_id":"hs"}`},
		{"/routes/h-pc", `{"uri":"/h/pc","service_id":"hs","plugin_config_id":"hpc"}`},
		{"/routes/h-route", fmt.Sprintf(`{"uri":"/h/route","service_id":"hs","plugin_config_id":"hpc","plugins":{"echo":%s}}`, echo("route"))},
		{"/routes/h-auth", fmt.Sprintf(`{"uri":"/h/auth","service_id":"hs","plugin_config_id":"hpc","plugins":{"key-auth":{},"echo":%s}}`, echo("route"))},
		{"/routes/h-auth-bare", routeJSON(o, "/h/auth-bare", `{"key-auth":{}}`)},
		{"/routes/h-filter", routeJSON(o, "/h/filter", `{"echo":{"before_body":"filtered:","_meta":{"filter":[["arg_x","==","1"]]}}}`)},
		{"/routes/h-disable", `{"uri":"/h/disable","service_id":"hs","plugins":{"echo":{"before_body":"route:","_meta":{"disable":true}}}}`},
		{"/routes/h-disable-auth", routeJSON(o, "/h/disable-auth", `{"key-auth":{"_meta":{"disable":true}}}`)},
		{"/routes/h-err-obj", routeJSON(o, "/h/err-obj", `{"key-auth":{"_meta":{"error_response":{"message":"custom"}}}}`)},
		{"/routes/h-err-str", routeJSON(o, "/h/err-str", `{"ip-restriction":{"blacklist":["127.0.0.1"],"_meta":{"error_response":"go away"}}}`)},
		{"/routes/h-err-page", routeJSON(o, "/h/err-page/*", `{"uri-blocker":{"block_rules":["err"],"_meta":{"error_response":{"a":"/b"}}}}`)},
		{"/routes/h-err-2xx", routeJSON(o, "/h/err-2xx", `{"fault-injection":{"abort":{"http_status":200,"body":"fine"},"_meta":{"error_response":"x"}}}`)},
		{"/routes/h-prio", routeJSON(o, "/h/prio", `{"echo":{"before_body":"e:","_meta":{"priority":5000}},"request-id":{},"cors":{}}`)},
		{"/consumers", `{"username":"hx","plugins":{"key-auth":{"key":"hx-key"},"fault-injection":{"abort":{"http_status":418,"body":"consumer abort"}}}}`},
		{"/consumers", `{"username":"hy","plugins":{"key-auth":{"key":"hy-key"},"cors":{}}}`},
		{"/routes/h-exit-hf", routeJSON(o, "/h/exit-hf", `{"key-auth":{},"request-id":{},"response-rewrite":{"headers":{"set":{"X-RR":"on-exit"}}}}`)},
		{"/routes/h-plain", routeJSON(o, "/h/plain", "")},
		{"/global_rules/hg2", `{"plugins":{"key-auth":{"_meta":{"filter":[["arg_gauth","==","1"]]}}}}`},
		{"/global_rules/hg1", `{"plugins":{"response-rewrite":{"headers":{"set":{"X-Global":"$uri"}}}}}`},
	})
	// the global rule came in the same burst as /_ready; make sure it is live too
	for deadline := time.Now().Add(10 * time.Second); send(t, n, req{path: "/h/unmatched"}).Header.Get("X-Global") == ""; {
		if time.Now().After(deadline) {
			t.Fatal("global rule not live within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	bodyStarts := func(prefix string) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			rest, ok := strings.CutPrefix(r.Body, prefix)
			if !ok || !strings.HasPrefix(rest, "{") {
				t.Errorf("body %q, want %q then the origin's", r.Body, prefix)
			}
		}
	}
	key := func(k string) []string { return []string{"apikey: " + k} }
	runCases(t, n, []pcase{
		{name: "service copy", req: req{path: "/h/svc"}, status: 200, check: bodyStarts("service:")},
		{name: "plugin_config over service", req: req{path: "/h/pc"}, status: 200, check: bodyStarts("plugin_config:")},
		{name: "route over plugin_config", req: req{path: "/h/route"}, status: 200, check: bodyStarts("route:")},
		{name: "consumer over group over route", req: req{path: "/h/auth", header: key("hc-key")}, status: 200, check: bodyStarts("consumer:")},
		{name: "group over route", req: req{path: "/h/auth", header: key("hn-key")}, status: 200, check: bodyStarts("group:")},
		{name: "route when the consumer brings none", req: req{path: "/h/auth", header: key("hp-key")}, status: 200, check: bodyStarts("route:")},
		{name: "consumer plugins a route lacks run after auth", req: req{path: "/h/auth-bare", header: key("hc-key")}, status: 200,
			check: func(t *testing.T, r response) {
				bodyStarts("consumer:")(t, r)
				s := originSaw(t, response{Body: strings.TrimPrefix(r.Body, "consumer:")})
				if s.Header.Get("X-From-Consumer") != "hc" || s.Header.Get("X-From-Group") != "" {
					t.Errorf("consumer's proxy-rewrite (over the group's): origin saw %v", s.Header)
				}
			}},
		{name: "group plugins a route lacks", req: req{path: "/h/auth-bare", header: key("hn-key")}, status: 200,
			check: func(t *testing.T, r response) {
				s := originSaw(t, response{Body: strings.TrimPrefix(r.Body, "group:")})
				if s.Header.Get("X-From-Group") != "g" {
					t.Errorf("origin saw %v", s.Header)
				}
			}},
		{name: "no consumer plugins before auth", req: req{path: "/h/auth-bare"}, status: 401,
			body: jsonLine(`{"message":"Missing API key in request"}`)},

		{name: "consumer rewrite plugin runs after auth", req: req{path: "/h/auth-bare", header: key("hx-key")}, status: 418,
			body: "consumer abort"},
		{name: "consumer cors: OPTIONS before auth is rejected", req: req{method: "OPTIONS", path: "/h/auth-bare"}, status: 401},
		{name: "consumer cors: OPTIONS after auth", req: req{method: "OPTIONS", path: "/h/auth-bare", header: key("hy-key")}, status: 200,
			noBody: true, header: map[string]string{"Access-Control-Allow-Origin": "*", "X-Origin": ""}},
		{name: "header filters run on an exit", req: req{path: "/h/exit-hf"}, status: 401,
			body: jsonLine(`{"message":"Missing API key in request"}`),
			check: func(t *testing.T, r response) {
				if r.Header.Get("X-RR") != "on-exit" || len(r.Header.Get("X-Request-Id")) != 36 {
					t.Errorf("headers %v", r.Header)
				}
			}},
		{name: "global auth plugin authenticates", req: req{path: "/h/plain?gauth=1"}, status: 401,
			body: jsonLine(`{"message":"Missing API key in request"}`)},
		{name: "global auth plugin's consumer is merged", req: req{path: "/h/plain?gauth=1", header: key("hc-key")}, status: 200,
			check: func(t *testing.T, r response) {
				s := originSaw(t, response{Body: strings.TrimPrefix(r.Body, "consumer:")})
				if !strings.HasPrefix(r.Body, "consumer:") || s.Header.Get("X-Consumer-Username") != "hc" || s.Header.Get("X-From-Consumer") != "hc" {
					t.Errorf("body %q", r.Body)
				}
			}},
		{name: "global auth plugin filtered out", req: req{path: "/h/plain"}, status: 200},

		{name: "global rule on an unmatched request", req: req{path: "/h/unmatched"}, status: 404,
			body: jsonLine(`{"error_msg":"404 Route Not Found"}`), header: map[string]string{"X-Global": "/h/unmatched"}},
		{name: "global rule on a matched request too", req: req{path: "/h/svc"}, status: 200,
			header: map[string]string{"X-Global": "/h/svc"}},
		{name: "global rule on a plugin exit", req: req{path: "/h/auth"}, status: 401,
			header: map[string]string{"X-Global": "/h/auth"}},

		{name: "_meta.filter true", req: req{path: "/h/filter?x=1"}, status: 200, check: bodyStarts("filtered:")},
		{name: "_meta.filter false", req: req{path: "/h/filter?x=2"}, status: 200, check: bodyStarts("")},
		{name: "_meta.filter var absent", req: req{path: "/h/filter"}, status: 200, check: bodyStarts("")},
		{name: "_meta.disable drops the route copy (not falling back to the service's)", req: req{path: "/h/disable"}, status: 200,
			check: bodyStarts("")},
		{name: "_meta.disable on an auth plugin", req: req{path: "/h/disable-auth"}, status: 200},

		{name: "_meta.error_response object", req: req{path: "/h/err-obj"}, status: 401,
			body: jsonLine(`{"message":"custom"}`), header: map[string]string{"WWW-Authenticate": `apikey realm="key"`}},
		{name: "_meta.error_response string", req: req{path: "/h/err-str"}, status: 403, body: "go away"},
		{name: "_meta.error_response replaces an nginx page, / unescaped", req: req{path: "/h/err-page/err"}, status: 403,
			body: jsonLine(`{"a":"/b"}`)},
		{name: "_meta.error_response not for < 400", req: req{path: "/h/err-2xx"}, status: 200, body: "fine"},
	})

	control := fmt.Sprintf("http://127.0.0.1:%d", p.Control)
	type entry struct {
		Name     string
		Priority int
		Source   string
		Parent   string
		Filter   bool
	}
	type view struct {
		Global            []entry
		Plugins           []entry
		RewriteInConsumer []entry `json:"rewrite_in_consumer"`
	}
	get := func(t *testing.T, path string) view {
		t.Helper()
		r := do(t, "GET", control+path, "", "")
		var v view
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &v) != nil {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		return v
	}
	str := func(es []entry) string {
		var s []string
		for _, e := range es {
			s = append(s, fmt.Sprintf("%s/%d/%s/%s", e.Name, e.Priority, e.Source, e.Parent))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct{ name, path, global, plugins, inConsumer string }{
		{"service source", "/v1/routes/h-svc/plugins", "key-auth/2500/global_rule//apisix/global_rules/hg2 response-rewrite/899/global_rule//apisix/global_rules/hg1",
			"echo/412/service//apisix/services/hs", ""},
		{"plugin_config source", "/v1/routes/h-pc/plugins", "",
			"echo/412/plugin_config//apisix/plugin_configs/hpc", ""},
		{"order by priority", "/v1/routes/h-auth/plugins", "",
			"key-auth/2500/route//apisix/routes/h-auth echo/412/route//apisix/routes/h-auth", ""},
		{"merged with a consumer", "/v1/routes/h-auth-bare/plugins?consumer=hc", "",
			"key-auth/2500/route//apisix/routes/h-auth-bare proxy-rewrite/1008/consumer//apisix/consumers/hc echo/412/consumer//apisix/consumers/hc",
			"proxy-rewrite/1008/consumer//apisix/consumers/hc echo/412/consumer//apisix/consumers/hc"},
		{"merged with a group", "/v1/routes/h-auth/plugins?consumer=hn", "",
			"key-auth/2500/route//apisix/routes/h-auth proxy-rewrite/1008/consumer_group//apisix/consumer_groups/hg echo/412/consumer_group//apisix/consumer_groups/hg",
			"proxy-rewrite/1008/consumer_group//apisix/consumer_groups/hg"},
		{"_meta.priority reorders", "/v1/routes/h-prio/plugins", "",
			"request-id/12015/route//apisix/routes/h-prio echo/5000/route//apisix/routes/h-prio cors/4000/route//apisix/routes/h-prio", ""},
		{"_meta.disable leaves it out", "/v1/routes/h-disable/plugins", "", "", ""},
	} {
		t.Run("control/"+c.name, func(t *testing.T) {
			v := get(t, c.path)
			// the global chain is the same on every route; check it where given
			if c.global != "" && str(v.Global) != c.global {
				t.Errorf("global %q, want %q", str(v.Global), c.global)
			}
			if str(v.Plugins) != c.plugins {
				t.Errorf("plugins\n %q\nwant\n %q", str(v.Plugins), c.plugins)
			}
			if str(v.RewriteInConsumer) != c.inConsumer {
				t.Errorf("rewrite_in_consumer\n %q\nwant\n %q", str(v.RewriteInConsumer), c.inConsumer)
			}
		})
	}
	t.Run("control/filter flagged", func(t *testing.T) {
		if v := get(t, "/v1/routes/h-filter/plugins"); len(v.Plugins) != 1 || !v.Plugins[0].Filter {
			t.Errorf("h-filter: %+v", v.Plugins)
		}
	})
}
