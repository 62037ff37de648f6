package faultinjection

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func newInst(t *testing.T, conf string) *FaultInjection {
	t.Helper()
	d, _ := plugin.Lookup("fault-injection")
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*FaultInjection)
}

func TestAbort(t *testing.T) {
	for _, tc := range []struct {
		name, conf, arg string
		status          int // 0: no abort
		body            *string
		header          string
	}{
		{"fault-injection.t: abort 200 with body", `{"abort":{"http_status":200,"body":"hello world\n"}}`, "", 200, ptr("hello world\n"), ""},
		{"abort without body: nil body (nginx page)", `{"abort":{"http_status":405}}`, "", 405, nil, ""},
		{"abort with empty body", `{"abort":{"http_status":200,"body":""}}`, "", 200, ptr(""), ""},
		{"body and headers are $var templates", `{"abort":{"http_status":403,"body":"Fault Injection!\nclient addr: $remote_addr\n","headers":{"X-Arg":"${arg_name ?? none}","X-Num":1}}}`, "", 403, ptr("Fault Injection!\nclient addr: 127.0.0.1\n"), "none"},
		{"percentage 0 never aborts", `{"abort":{"http_status":403,"percentage":0}}`, "", 0, nil, ""},
		{"percentage 100 always aborts", `{"abort":{"http_status":403,"percentage":100}}`, "", 403, nil, ""},
		{"vars ORed: second matches", `{"abort":{"http_status":403,"vars":[[["arg_name","==","jack"]],[["arg_name","==","rose"]]]}}`, "rose", 403, nil, ""},
		{"vars no match", `{"abort":{"http_status":403,"vars":[[["arg_name","==","jack"]]]}}`, "rose", 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newInst(t, tc.conf)
			c := plugintest.New()
			if tc.arg != "" {
				c.Query.Set("name", tc.arg)
			}
			f.Rewrite(c)
			if tc.status == 0 {
				if c.Exited() {
					t.Fatalf("aborted with %d", c.ExitStatus)
				}
				return
			}
			if !c.Exited() || c.ExitStatus != tc.status {
				t.Fatalf("exit %v %d, want %d", c.Exited(), c.ExitStatus, tc.status)
			}
			if (tc.body == nil) != (c.ExitBody == nil) || (tc.body != nil && string(c.ExitBody) != *tc.body) {
				t.Fatalf("body %q, want %v", c.ExitBody, tc.body)
			}
			if tc.header != "" && c.RespHdr.Get("X-Arg") != tc.header {
				t.Fatalf("X-Arg %q", c.RespHdr.Get("X-Arg"))
			}
		})
	}
}

func TestDelayThenAbort(t *testing.T) {
	f := newInst(t, `{"delay":{"duration":0.05},"abort":{"http_status":500}}`)
	c := plugintest.New()
	start := time.Now()
	f.Rewrite(c)
	if time.Since(start) < 50*time.Millisecond || c.ExitStatus != 500 {
		t.Fatalf("took %v, status %d", time.Since(start), c.ExitStatus)
	}
	f = newInst(t, `{"delay":{"duration":1,"vars":[[["arg_x","==","1"]]]}}`)
	start = time.Now()
	f.Rewrite(plugintest.New())
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("delayed without vars match")
	}
}

func TestBadVars(t *testing.T) {
	d, _ := plugin.Lookup("fault-injection")
	if _, err := d.New(json.RawMessage(`{"abort":{"http_status":403,"vars":[["arg_name","==","jack"]]}}`), plugin.Env{}); err == nil {
		t.Fatal("unbracketed rule accepted")
	}
}

func ptr(s string) *string { return &s }
