package iprestriction

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) plugin.Accessor {
	t.Helper()
	return plugintest.MustNew(t, "ip-restriction", conf).(plugin.Accessor)
}

func TestAccess(t *testing.T) {
	const denied = "{\"message\":\"Your IP address is not allowed\"}\n"
	tests := []struct {
		name   string
		conf   string
		remote string
		status int // 0: passes
		body   string
	}{
		{"plugins.md §4: whitelist hit", `{"whitelist":["127.0.0.1","113.74.26.106/24"]}`, "127.0.0.1", 0, ""},
		{"ip-restriction.t: whitelist CIDR hit", `{"whitelist":["113.74.26.106/24"]}`, "113.74.26.7", 0, ""},
		{"ip-restriction.t: whitelist miss → 403", `{"whitelist":["113.74.26.106/24"]}`, "127.0.0.1", 403, denied},
		{"ip-restriction.t: blacklist hit → 403", `{"blacklist":["127.0.0.0/24"]}`, "127.0.0.9", 403, denied},
		{"blacklist miss", `{"blacklist":["127.0.0.0/24"]}`, "10.0.0.1", 0, ""},
		{"plugins.md §4: response_code 404 and message",
			`{"blacklist":["127.0.0.1"],"response_code":404,"message":"Do you know where you are?"}`,
			"127.0.0.1", 404, "{\"message\":\"Do you know where you are?\"}\n"},
		{"IPv6 address", `{"whitelist":["::1"]}`, "::1", 0, ""},
		{"IPv6 CIDR", `{"blacklist":["2001:db8::/32"]}`, "2001:db8:1::5", 403, denied},
		{"IPv6 entry does not match IPv4 client", `{"whitelist":["::/0"]}`, "10.0.0.1", 403, denied},
		{"IPv4-mapped client matches IPv4 entry", `{"whitelist":["127.0.0.1"]}`, "::ffff:127.0.0.1", 0, ""},
		{"/32 entry", `{"blacklist":["10.1.1.1/32"]}`, "10.1.1.1", 403, denied},
		{"/0 matches every IPv4", `{"blacklist":["0.0.0.0/0"]}`, "192.0.2.1", 403, denied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.conf)
			c := plugintest.New()
			c.Remote = netip.MustParseAddr(tc.remote)
			p.Access(c)
			if tc.status == 0 {
				if c.Exited() {
					t.Fatalf("exited %d %q, want pass", c.ExitStatus, c.ExitBody)
				}
				return
			}
			if c.ExitStatus != tc.status || string(c.ExitBody) != tc.body {
				t.Fatalf("got %d %q, want %d %q", c.ExitStatus, c.ExitBody, tc.status, tc.body)
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	for _, tc := range []struct{ conf, err string }{
		{`{"whitelist":["::1/129"]}`, "invalid ip address: ::1/129"},
		{`{"blacklist":["300.0.0.1"]}`, "invalid ip address: 300.0.0.1"},
		{`{"blacklist":["10.0.0.1/33"]}`, "invalid ip address: 10.0.0.1/33"},
	} {
		_, err := New(json.RawMessage(tc.conf), plugin.Env{})
		if err == nil || err.Error() != tc.err {
			t.Errorf("New(%s) = %v, want %q", tc.conf, err, tc.err)
		}
	}
}

func TestAccessAllocs(t *testing.T) {
	p := compile(t, `{"whitelist":["10.0.0.0/8","127.0.0.1"]}`)
	c := plugintest.New()
	if n := testing.AllocsPerRun(100, func() { p.Access(c) }); n != 0 {
		t.Fatalf("Access allocates %v times", n)
	}
}
