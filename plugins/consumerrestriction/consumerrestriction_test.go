package consumerrestriction

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestAccess(t *testing.T) {
	msg := func(s string) string { return `{"message":"` + s + `"}` + "\n" }
	tests := []struct {
		name     string
		conf     string
		consumer *plugin.Consumer
		route    string
		service  string
		method   string
		status   int // 0: allowed
		body     string
	}{
		{name: "consumer-restriction.t: whitelisted consumer", conf: `{"whitelist":["jack1"]}`,
			consumer: &plugin.Consumer{Username: "jack1"}},
		{name: "consumer-restriction.t: consumer not in whitelist", conf: `{"whitelist":["jack1"]}`,
			consumer: &plugin.Consumer{Username: "jack2"}, status: 403, body: msg("The consumer_name is forbidden.")},
		{name: "consumer-restriction.t: blacklisted consumer", conf: `{"blacklist":["jack1"]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, status: 403, body: msg("The consumer_name is forbidden.")},
		{name: "consumer-restriction.t: consumer not in blacklist", conf: `{"blacklist":["jack1"]}`,
			consumer: &plugin.Consumer{Username: "jack2"}},
		{name: "consumer-restriction.t: blacklist wins over whitelist", conf: `{"blacklist":["jack1"],"whitelist":["jack1"]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, status: 403, body: msg("The consumer_name is forbidden.")},
		{name: "consumer-restriction.t: no consumer", conf: `{"whitelist":["jack1"]}`,
			status: 401, body: msg("The request is rejected, please check the consumer_name for this request")},
		{name: "consumer-restriction.t: rejected_code and rejected_msg", conf: `{"blacklist":["jack1"],"rejected_code":401,"rejected_msg":"request is forbidden"}`,
			consumer: &plugin.Consumer{Username: "jack1"}, status: 401, body: msg("request is forbidden")},
		{name: "consumer-restriction.t: route_id whitelist", conf: `{"type":"route_id","whitelist":["1"]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, route: "1"},
		{name: "consumer-restriction.t: route_id not whitelisted", conf: `{"type":"route_id","whitelist":["1"]}`,
			route: "2", status: 403, body: msg("The route_id is forbidden.")},
		{name: "consumer-restriction.t: service_id blacklist", conf: `{"type":"service_id","blacklist":["1"]}`,
			route: "1", service: "1", status: 403, body: msg("The service_id is forbidden.")},
		{name: "consumer-restriction.t: no service", conf: `{"type":"service_id","whitelist":["1"]}`,
			route: "1", status: 401, body: msg("The request is rejected, please check the service_id for this request")},
		{name: "consumer-restriction2.t: consumer_group_id whitelist", conf: `{"type":"consumer_group_id","whitelist":["group1"]}`,
			consumer: &plugin.Consumer{Username: "jack1", GroupID: "group1"}},
		{name: "consumer-restriction2.t: consumer_group_id blacklist", conf: `{"type":"consumer_group_id","blacklist":["group1"]}`,
			consumer: &plugin.Consumer{Username: "jack1", GroupID: "group1"}, status: 403, body: msg("The consumer_group_id is forbidden.")},
		{name: "consumer-restriction2.t: consumer without group", conf: `{"type":"consumer_group_id","blacklist":["group1"]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, status: 401, body: msg("The request is rejected, please check the consumer_group_id for this request")},
		{name: "consumer-restriction.t: allowed_by_methods allows listed method", conf: `{"allowed_by_methods":[{"user":"jack1","methods":["POST","GET"]}]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, method: "GET"},
		{name: "consumer-restriction.t: allowed_by_methods rejects other method", conf: `{"allowed_by_methods":[{"user":"jack1","methods":["POST"]}]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, method: "GET", status: 403, body: msg("The consumer_name is forbidden.")},
		{name: "consumer-restriction.t: allowed_by_methods without entry allows", conf: `{"allowed_by_methods":[{"user":"jack1","methods":["POST"]}]}`,
			consumer: &plugin.Consumer{Username: "jack2"}, method: "GET"},
		{name: "consumer-restriction.t: first entry for a value decides", conf: `{"allowed_by_methods":[{"user":"jack1","methods":["POST"]},{"user":"jack1","methods":["GET"]}]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, method: "GET", status: 403, body: msg("The consumer_name is forbidden.")},
		{name: "consumer-restriction.t: whitelisted skips allowed_by_methods", conf: `{"whitelist":["jack1"],"allowed_by_methods":[{"user":"jack1","methods":["POST"]}]}`,
			consumer: &plugin.Consumer{Username: "jack1"}, method: "GET"},
		{name: "plugins.md §3 consumer-restriction: allowed_by_methods decides for a non-whitelisted value", conf: `{"whitelist":["jack1"],"allowed_by_methods":[{"user":"jack2","methods":["GET"]}]}`,
			consumer: &plugin.Consumer{Username: "jack2"}, method: "GET"},
		{name: "plugins.md §3 consumer-restriction: non-whitelisted value rejected by its method entry", conf: `{"whitelist":["jack1"],"allowed_by_methods":[{"user":"jack2","methods":["POST"]}]}`,
			consumer: &plugin.Consumer{Username: "jack2"}, method: "GET", status: 403, body: msg("The consumer_name is forbidden.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := New(json.RawMessage(tt.conf), plugin.Env{})
			if err != nil {
				t.Fatal(err)
			}
			c := plugintest.New()
			c.ConsumerV, c.Route, c.Service = tt.consumer, tt.route, tt.service
			if tt.method != "" {
				c.MethodV = tt.method
			}
			inst.(*Restriction).Access(c)
			if c.ExitStatus != tt.status || string(c.ExitBody) != tt.body {
				t.Fatalf("exit = %d %q, want %d %q", c.ExitStatus, c.ExitBody, tt.status, tt.body)
			}
		})
	}
}

func TestAccessAllocs(t *testing.T) {
	inst, _ := New(json.RawMessage(`{"whitelist":["jack1"],"allowed_by_methods":[{"user":"jack2","methods":["POST"]}]}`), plugin.Env{})
	r := inst.(*Restriction)
	c := plugintest.New()
	c.ConsumerV = &plugin.Consumer{Username: "jack2"}
	base := testing.AllocsPerRun(100, func() { sink = c.Method() })
	if got := testing.AllocsPerRun(100, func() { r.Access(c) }); got > base {
		t.Errorf("Access allocs = %v, Ctx baseline %v", got, base)
	}
}

var sink []byte
