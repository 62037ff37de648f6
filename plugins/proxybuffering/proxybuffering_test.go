package proxybuffering

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestRewriteRecordsSetting(t *testing.T) {
	tests := []struct {
		conf string
		want bool
	}{
		{`{}`, false},
		{`{"disable_proxy_buffering":false}`, false},
		{`{"disable_proxy_buffering":true}`, true},
	}
	for _, tt := range tests {
		inst, err := New(json.RawMessage(tt.conf), plugin.Env{})
		if err != nil {
			t.Fatalf("New(%s): %v", tt.conf, err)
		}
		c := plugintest.New()
		inst.(*ProxyBuffering).Rewrite(c)
		if got, ok := c.Get(DisableProxyBufferingKey).(bool); !ok || got != tt.want {
			t.Errorf("%s: recorded %v (%v), want %v", tt.conf, got, ok, tt.want)
		}
		if c.Exited() || c.StatusV != 200 {
			t.Errorf("%s: request ended: %d", tt.conf, c.ExitStatus)
		}
	}
}

func TestNewRejectsWrongType(t *testing.T) {
	if _, err := New(json.RawMessage(`{"disable_proxy_buffering":"yes"}`), plugin.Env{}); err == nil {
		t.Error("New accepted a string for disable_proxy_buffering")
	}
}

func TestRegistered(t *testing.T) {
	d, ok := plugin.Lookup("proxy-buffering")
	if !ok || d.Priority != 21991 || d.New == nil {
		t.Fatalf("definition: %+v", d)
	}
}
