package echo

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// run feeds chunks through the body filter the way the runtime does.
func run(t *testing.T, conf string, chunks ...string) (string, *plugintest.Ctx) {
	t.Helper()
	d, _ := plugin.Lookup("echo")
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	e := inst.(*Echo)
	c := plugintest.New()
	c.RespHdr.Set("Content-Length", "10")
	c.RespHdr.Set("ETag", "x")
	e.HeaderFilter(c)
	var out []byte
	for i, ch := range chunks {
		out = append(out, e.BodyFilter(c, []byte(ch), i == len(chunks)-1)...)
	}
	return string(out), c
}

// Cases after t/plugin/echo.t.
func TestEcho(t *testing.T) {
	for _, tc := range []struct {
		conf   string
		chunks []string
		want   string
	}{
		{`{"before_body":"before the body modification "}`, []string{"hello ", "world\n"}, "before the body modification hello world\n"},
		{`{"after_body":"\nafter"}`, []string{"hello ", "world"}, "hello world\nafter"},
		{`{"body":"hello upstream"}`, []string{"a", "b", "c"}, "hello upstream"},
		{`{"before_body":"<","body":"x","after_body":">"}`, []string{"a", "b"}, "<x>"},
	} {
		got, c := run(t, tc.conf, tc.chunks...)
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.conf, got, tc.want)
		}
		if c.RespHdr.Get("Content-Length") != "" || c.RespHdr.Get("ETag") != "" {
			t.Errorf("%s: body headers kept", tc.conf)
		}
	}
	_, c := run(t, `{"body":"x","headers":{"Location":"https://www.iresty.com","X-N":5,"X-Bad":{}}}`, "")
	if c.RespHdr.Get("Location") != "https://www.iresty.com" || c.RespHdr.Get("X-N") != "5" || c.RespHdr.Get("X-Bad") != "" {
		t.Fatalf("headers %v", c.RespHdr)
	}
}
