package realip

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) *RealIP {
	t.Helper()
	inst, err := New(json.RawMessage(conf), plugin.Env{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst.(*RealIP)
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, conf string
		peer       string
		setup      func(c *plugintest.Ctx)
		want       string // Remote after rewrite
		wantPort   uint16
	}{
		{"header", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4") }, "1.2.3.4", 0},
		{"header with port", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4:7777") }, "1.2.3.4", 7777},
		{"query arg", `{"source":"arg_realip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.Query.Set("realip", "5.6.7.8") }, "5.6.7.8", 0},
		{"ipv6", `{"source":"arg_realip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.Query.Set("realip", "2001:db8::1") }, "2001:db8::1", 0},
		{"bracketed ipv6", `{"source":"arg_realip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.Query.Set("realip", "[2001:db8::1]") }, "2001:db8::1", 0},
		{"bracketed ipv6 with port", `{"source":"arg_realip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.Query.Set("realip", "[2001:db8::1]:443") }, "2001:db8::1", 443},
		{"missing source", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) {}, "127.0.0.1", 0},
		{"not an ip", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "example.com") }, "127.0.0.1", 0},
		{"port 0", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4:0") }, "127.0.0.1", 0},
		{"port too big", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4:65536") }, "127.0.0.1", 0},
		{"zone", `{"source":"http_x_real_ip"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "fe80::1%eth0") }, "127.0.0.1", 0},
		{"trusted peer", `{"source":"http_x_real_ip","trusted_addresses":["10.0.0.0/8"]}`, "10.1.2.3",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4") }, "1.2.3.4", 0},
		{"untrusted peer", `{"source":"http_x_real_ip","trusted_addresses":["10.0.0.0/8","127.0.0.2"]}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4") }, "127.0.0.1", 0},
		{"xff single", `{"source":"http_x_forwarded_for"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Forwarded-For", "1.2.3.4") }, "1.2.3.4", 0},
		{"xff last element", `{"source":"http_x_forwarded_for"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Forwarded-For", "1.1.1.1, 2.2.2.2,  3.3.3.3") }, "3.3.3.3", 0},
		{"xff last header", `{"source":"http_x_forwarded_for"}`, "127.0.0.1",
			func(c *plugintest.Ctx) {
				c.ReqHeader.Add("X-Forwarded-For", "1.1.1.1")
				c.ReqHeader.Add("X-Forwarded-For", "2.2.2.2, 4.4.4.4")
			}, "4.4.4.4", 0},
		{"xff recursive", `{"source":"http_x_forwarded_for","recursive":true,"trusted_addresses":["127.0.0.1","10.0.0.0/8"]}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 10.0.0.2, 10.0.0.1") }, "2.2.2.2", 0},
		{"xff recursive all trusted", `{"source":"http_x_forwarded_for","recursive":true,"trusted_addresses":["127.0.0.1","10.0.0.0/8"]}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Forwarded-For", "10.0.0.3, 10.0.0.2,10.0.0.1") }, "10.0.0.3", 0},
		{"xff recursive without trusted takes last", `{"source":"http_x_forwarded_for","recursive":true}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Forwarded-For", "1.1.1.1, 10.0.0.1") }, "10.0.0.1", 0},
		{"xff with port", `{"source":"http_x_forwarded_for"}`, "127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Forwarded-For", "9.9.9.9, 1.2.3.4:8080") }, "1.2.3.4", 8080},
		{"ipv4-mapped peer matches ipv4 entry", `{"source":"http_x_real_ip","trusted_addresses":["127.0.0.1"]}`, "::ffff:127.0.0.1",
			func(c *plugintest.Ctx) { c.ReqHeader.Set("X-Real-IP", "1.2.3.4") }, "1.2.3.4", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := compile(t, tt.conf)
			c := plugintest.New()
			c.Remote, c.RemotePort = netip.MustParseAddr(tt.peer), 0
			tt.setup(c)
			r.Rewrite(c)
			if c.Remote.String() != netip.MustParseAddr(tt.want).String() || c.RemotePort != tt.wantPort {
				t.Errorf("remote = %s port %d, want %s port %d", c.Remote, c.RemotePort, tt.want, tt.wantPort)
			}
			if c.Exited() {
				t.Errorf("request ended with %d", c.ExitStatus)
			}
		})
	}
}

func TestRemoteVarsFollow(t *testing.T) {
	r := compile(t, `{"source":"http_x_real_ip"}`)
	c := plugintest.New()
	c.RemotePort = 50000
	c.ReqHeader.Set("X-Real-IP", "1.2.3.4:81")
	r.Rewrite(c)
	addr, _ := c.Lookup(&plugin.Var{Kind: plugin.VarRemoteAddr})
	port, _ := c.Lookup(&plugin.Var{Kind: plugin.VarRemotePort})
	if string(addr) != "1.2.3.4" || string(port) != "81" {
		t.Errorf("$remote_addr=%q $remote_port=%q", addr, port)
	}
}

// plainCtx hides plugintest.Ctx's SetRemoteAddr: a Ctx without the optional interface.
type plainCtx struct{ plugin.Ctx }

func TestRewriteWithoutSetter(t *testing.T) {
	r := compile(t, `{"source":"http_x_real_ip"}`)
	c := plugintest.New()
	c.ReqHeader.Set("X-Real-IP", "1.2.3.4")
	r.Rewrite(plainCtx{c})
	if c.Remote.String() != "127.0.0.1" {
		t.Errorf("remote changed to %s", c.Remote)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct{ conf, want string }{
		{`{"source":"http_x_real_ip","trusted_addresses":["1.2.3.256"]}`, "invalid ip address: 1.2.3.256"},
		{`{"source":"http_x_real_ip","trusted_addresses":["10.0.0.0/33"]}`, "invalid ip address: 10.0.0.0/33"},
		{`{"source":"http_x_real_ip","trusted_addresses":["fe80::1%eth0"]}`, "invalid ip address: fe80::1%eth0"},
		{`{}`, `property "source" is required`},
	} {
		_, err := New(json.RawMessage(tt.conf), plugin.Env{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("New(%s) = %v, want %q", tt.conf, err, tt.want)
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4:80", "[::1]:443", "[::1]", "::1", "[1.2.3.4]:1", "a:b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, _, ok := parseAddr(s)
		if ok && (!addr.IsValid() || addr.Zone() != "") {
			t.Fatalf("parseAddr(%q) accepted %v", s, addr)
		}
	})
}
