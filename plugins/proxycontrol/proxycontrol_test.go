package proxycontrol

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestRewrite(t *testing.T) {
	d, ok := plugin.Lookup("proxy-control")
	if !ok || d.New == nil {
		t.Fatal("proxy-control not registered with New")
	}
	for conf, want := range map[string]bool{
		`{}`:                          true,
		`{"request_buffering":true}`:  true,
		`{"request_buffering":false}`: false,
	} {
		inst, err := d.New(json.RawMessage(conf), plugin.Env{})
		if err != nil {
			t.Fatal(err)
		}
		c := plugintest.New()
		if c.Get(RequestBufferingKey) != nil {
			t.Fatal("key set before the plugin ran")
		}
		inst.(plugin.Rewriter).Rewrite(c)
		if got, ok := c.Get(RequestBufferingKey).(bool); !ok || got != want || c.Exited() {
			t.Errorf("%s: recorded %v (%v), want %v", conf, got, ok, want)
		}
	}
}
