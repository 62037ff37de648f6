package clientcontrol

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func compile(t *testing.T, conf string) *ClientControl {
	t.Helper()
	d, ok := plugin.Lookup("client-control")
	if !ok || d.New == nil {
		t.Fatal("client-control not registered with New")
	}
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*ClientControl)
}

// Cases after t/plugin/client-control.t.
func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, conf, length string // length "": no Content-Length (chunked or no body)
		status             int    // 0: passes
		limit              int64  // set through plugin.BodyLimiter; -1: not set
	}{
		{name: "within", conf: `{"max_body_size":5}`, length: "5", limit: 5},
		{name: "over", conf: `{"max_body_size":5}`, length: "6", status: 413, limit: -1},
		{name: "huge", conf: `{"max_body_size":5}`, length: "99999999999999999999999", status: 413, limit: -1},
		{name: "chunked", conf: `{"max_body_size":5}`, limit: 5},
		{name: "unlimited", conf: `{"max_body_size":0}`, length: "1048576000", limit: 0},
		{name: "not configured", conf: `{}`, length: "1048576000", limit: -1},
		{name: "invalid length", conf: `{"max_body_size":5}`, length: "6x", limit: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plugintest.New()
			c.MethodV = "POST"
			if tc.length != "" {
				c.ReqHeader.Set("Content-Length", tc.length)
			}
			compile(t, tc.conf).Rewrite(c)
			if c.ExitStatus != tc.status {
				t.Fatalf("status %d, want %d", c.ExitStatus, tc.status)
			}
			if tc.status != 0 && c.ExitBody != nil {
				t.Fatalf("exit body %q, want nginx's page", c.ExitBody)
			}
			if c.MaxBodySize != tc.limit {
				t.Fatalf("limit %d, want %d", c.MaxBodySize, tc.limit)
			}
		})
	}
}
