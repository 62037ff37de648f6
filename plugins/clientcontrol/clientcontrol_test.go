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
		limit              any    // recorded under MaxBodySizeKey
	}{
		{name: "within", conf: `{"max_body_size":5}`, length: "5", limit: int64(5)},
		{name: "over", conf: `{"max_body_size":5}`, length: "6", status: 413},
		{name: "huge", conf: `{"max_body_size":5}`, length: "99999999999999999999999", status: 413},
		{name: "chunked", conf: `{"max_body_size":5}`, limit: int64(5)},
		{name: "unlimited", conf: `{"max_body_size":0}`, length: "1048576000", limit: int64(0)},
		{name: "not configured", conf: `{}`, length: "1048576000"},
		{name: "invalid length", conf: `{"max_body_size":5}`, length: "6x", limit: int64(5)},
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
			if got := c.Get(MaxBodySizeKey); got != tc.limit {
				t.Fatalf("limit %v (%T), want %v", got, got, tc.limit)
			}
		})
	}
}
