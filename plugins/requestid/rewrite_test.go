package requestid

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func newInst(t *testing.T, conf string) *RequestID {
	t.Helper()
	d, _ := plugin.Lookup("request-id")
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*RequestID)
}

func TestAlgorithms(t *testing.T) {
	for _, tc := range []struct{ conf, header, pattern string }{
		{`{}`, "X-Request-Id", `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{`{"algorithm":"uuidv7"}`, "X-Request-Id", `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{`{"algorithm":"nanoid"}`, "X-Request-Id", `^[-_0-9a-zA-Z]{21}$`},
		{`{"algorithm":"ksuid"}`, "X-Request-Id", `^[0-9A-Za-z]{27}$`},
		{`{"algorithm":"range_id"}`, "X-Request-Id", `^[a-zA-Z0-9]{16}$`},
		{`{"algorithm":"range_id","range_id":{"length":7,"char_set":"abcdef"}}`, "X-Request-Id", `^[a-f]{7}$`},
		{`{"header_name":"X-Trace"}`, "X-Trace", `^[0-9a-f-]{36}$`},
	} {
		r := newInst(t, tc.conf)
		c := plugintest.New()
		r.Rewrite(c)
		id := c.ReqHeader.Get(tc.header)
		if !regexp.MustCompile(tc.pattern).MatchString(id) {
			t.Errorf("%s: id %q does not match %s", tc.conf, id, tc.pattern)
		}
		r.HeaderFilter(c)
		if got := c.RespHdr.Get(tc.header); got != id {
			t.Errorf("%s: response header %q, want %q", tc.conf, got, id)
		}
	}
}

// request-id.t: a client-supplied id is kept and echoed; include_in_response false hides it.
func TestClientIDAndResponse(t *testing.T) {
	r := newInst(t, `{}`)
	c := plugintest.New()
	c.ReqHeader.Set("X-Request-Id", "client-id")
	r.Rewrite(c)
	r.HeaderFilter(c)
	if c.ReqHeader.Get("X-Request-Id") != "client-id" || c.RespHdr.Get("X-Request-Id") != "client-id" {
		t.Fatalf("req %q resp %q", c.ReqHeader.Get("X-Request-Id"), c.RespHdr.Get("X-Request-Id"))
	}
	// $apisix_request_id follows the id for loggers and the access log
	if v, ok := c.Lookup(&plugin.Var{Kind: plugin.VarRequestID}); !ok || string(v) != "client-id" {
		t.Errorf("$apisix_request_id = %q, %v", v, ok)
	}
	// Upstream already answered with one: left alone.
	c = plugintest.New()
	r.Rewrite(c)
	c.RespHdr.Set("X-Request-Id", "upstream")
	r.HeaderFilter(c)
	if c.RespHdr.Get("X-Request-Id") != "upstream" {
		t.Fatal("overwrote upstream's id")
	}
	r = newInst(t, `{"include_in_response":false}`)
	c = plugintest.New()
	r.Rewrite(c)
	r.HeaderFilter(c)
	if c.RespHdr.Get("X-Request-Id") != "" || c.ReqHeader.Get("X-Request-Id") == "" {
		t.Fatal("include_in_response false")
	}
}

func TestKSUIDEncode(t *testing.T) {
	var zero, max [20]byte
	for i := range max {
		max[i] = 0xff
	}
	if got := string(ksuidAppend(nil, &zero)); got != strings.Repeat("0", 27) {
		t.Errorf("zero: %q", got)
	}
	if got := string(ksuidAppend(nil, &max)); got != "aWgEPTl1tmebfsQzFP4bxwgy80V" { // the KSUID spec's maximum
		t.Errorf("max: %q", got)
	}
}

// Every algorithm's ids differ from one request to the next, and a client id longer than the
// per-request buffer is kept whole.
func TestIDsDifferAndLongClientID(t *testing.T) {
	for _, conf := range []string{`{}`, `{"algorithm":"uuidv7"}`, `{"algorithm":"nanoid"}`, `{"algorithm":"ksuid"}`, `{"algorithm":"range_id"}`} {
		r := newInst(t, conf)
		seen := map[string]bool{}
		for range 2000 {
			c := plugintest.New()
			r.Rewrite(c)
			id := c.ReqHeader.Get("X-Request-Id")
			if seen[id] {
				t.Fatalf("%s: id %q repeated", conf, id)
			}
			seen[id] = true
		}
	}
	long := strings.Repeat("0123456789", 10)
	r := newInst(t, `{}`)
	c := plugintest.New()
	c.ReqHeader.Set("X-Request-Id", long)
	r.Rewrite(c)
	r.HeaderFilter(c)
	if got := c.RespHdr.Get("X-Request-Id"); got != long {
		t.Fatalf("response id %q", got)
	}
	if v, _ := c.Lookup(&plugin.Var{Kind: plugin.VarRequestID}); string(v) != long {
		t.Fatalf("$apisix_request_id %q", v)
	}
}
