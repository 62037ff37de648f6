package mocking

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func newInst(t *testing.T, conf string) *Mocking {
	t.Helper()
	d, _ := plugin.Lookup("mocking")
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst.(*Mocking)
}

// Cases after t/plugin/mocking.t and plugins.md §5.
func TestExample(t *testing.T) {
	m := newInst(t, `{"response_example":"{\"a\":1,\"b\":\"$arg_b\"}","response_status":201,
		"response_headers":{"X-Mock":"v-${arg_b ?? none}","X-Num":2}}`)
	c := plugintest.New()
	c.Query.Set("b", "x")
	m.Access(c)
	if c.ExitStatus != 201 || string(c.ExitBody) != `{"a":1,"b":"x"}` {
		t.Fatalf("got %d %q", c.ExitStatus, c.ExitBody)
	}
	for k, want := range map[string]string{"Content-Type": "application/json;charset=utf8",
		"x-mock-by": "APISIX/3.18.0", "X-Mock": "v-x", "X-Num": "2"} {
		if got := c.RespHdr.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	m = newInst(t, `{"response_example":"hello","with_mock_header":false,"content_type":"text/plain"}`)
	c = plugintest.New()
	m.Access(c)
	if c.ExitStatus != 200 || string(c.ExitBody) != "hello" || c.RespHdr.Get("x-mock-by") != "" ||
		c.RespHdr.Get("Content-Type") != "text/plain" {
		t.Fatalf("got %d %q %v", c.ExitStatus, c.ExitBody, c.RespHdr)
	}
}

const testSchema = `{"type":"object","properties":{
	"id":{"type":"integer"},"name":{"type":"string","example":"jack"},"score":{"type":"number","example":1.5},
	"ok":{"type":"boolean","example":true},"tags":{"type":"array","items":{"type":"string"}},
	"nested":{"type":"object","properties":{"n":{"type":"integer","example":7.9}}}}}`

func TestSchemaJSON(t *testing.T) {
	m := newInst(t, `{"response_schema":`+testSchema+`}`)
	want := regexp.MustCompile(`^\{"id":\d+,"name":"jack","nested":\{"n":7\},"ok":true,"score":1\.5,"tags":\["[a-z]{1,10}"(,"[a-z]{1,10}"){0,2}\]\}$`)
	for range 20 {
		c := plugintest.New()
		m.Access(c)
		if !want.Match(c.ExitBody) {
			t.Fatalf("body %s", c.ExitBody)
		}
		var v map[string]any
		if err := json.Unmarshal(c.ExitBody, &v); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSchemaXML(t *testing.T) {
	m := newInst(t, `{"content_type":"application/xml;charset=utf8","response_schema":{"type":"object","properties":{"name":{"type":"string","example":"a<b"}}}}`)
	c := plugintest.New()
	m.Access(c)
	if string(c.ExitBody) != "<data>\n  <name>a&lt;b</name>\n</data>\n" {
		t.Fatalf("body %q", c.ExitBody)
	}
}

func TestContentTypeCheck(t *testing.T) {
	d, _ := plugin.Lookup("mocking")
	_, err := d.New(json.RawMessage(`{"response_example":"x","content_type":"image/png"}`), plugin.Env{})
	if err == nil || err.Error() != "unsupported content type!" {
		t.Fatalf("got %v", err)
	}
}
