package workflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
	_ "github.com/sluicegw/sluice/plugins/limitconn"
	_ "github.com/sluicegw/sluice/plugins/limitcount"
)

func newInst(t *testing.T, parent, conf string) *Workflow {
	t.Helper()
	inst, err := New(json.RawMessage(conf), plugin.Env{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	w := inst.(*Workflow)
	t.Cleanup(w.Close)
	return w
}

func get(uri string) *plugintest.Ctx {
	c := plugintest.New()
	c.Path = uri
	return c
}

func TestReturn(t *testing.T) {
	w := newInst(t, "/apisix/routes/1", `{"rules":[
		{"case":[["uri","==","/hello"]],"actions":[["return",{"code":403}]]},
		{"case":[["uri","==","/skip"]],"actions":[]},
		{"actions":[["return",{"code":418}]]}]}`)
	for _, tc := range []struct {
		uri    string
		status int
	}{{"/hello", 403}, {"/skip", 0}, {"/other", 418}} {
		c := get(tc.uri)
		w.Access(c)
		if tc.status == 0 {
			if c.Exited() {
				t.Fatalf("%s: exited %d", tc.uri, c.ExitStatus)
			}
			continue
		}
		if !c.Exited() || c.ExitStatus != tc.status || string(c.ExitBody) != `{"error_msg":"rejected by workflow"}`+"\n" {
			t.Fatalf("%s: %v %d %q", tc.uri, c.Exited(), c.ExitStatus, c.ExitBody)
		}
		w.Log(c)
	}
	// No rule matches: nothing happens.
	w2 := newInst(t, "/apisix/routes/2", `{"rules":[{"case":[["arg_x","==","1"]],"actions":[["return",{"code":403}]]}]}`)
	c := get("/")
	w2.Access(c)
	if c.Exited() {
		t.Fatalf("no match exited %d", c.ExitStatus)
	}
}

func TestLimitCountAction(t *testing.T) {
	w := newInst(t, "/apisix/routes/lc", `{"rules":[
		{"case":[["uri","==","/a"]],"actions":[["limit-count",{"count":1,"time_window":60,"rejected_code":429,"key":"remote_addr","key_type":"var"}]]},
		{"case":[["uri","==","/b"]],"actions":[["limit-count",{"count":1,"time_window":60,"rejected_code":429,"key":"remote_addr","key_type":"var"}]]}]}`)
	for i, want := range []int{0, 429} {
		c := get("/a")
		w.Access(c)
		if c.ExitStatus != want {
			t.Fatalf("/a #%d: %d, want %d", i, c.ExitStatus, want)
		}
		if want == 0 {
			if v, _ := c.RespHeader("X-RateLimit-Remaining"); string(v) != "0" {
				t.Fatalf("remaining header %q", v)
			}
		}
	}
	// Rule 2 has the same conf but its own counter.
	c := get("/b")
	w.Access(c)
	if c.Exited() {
		t.Fatalf("/b shares rule 1's counter: %d", c.ExitStatus)
	}
}

func TestLimitConnAction(t *testing.T) {
	w := newInst(t, "/apisix/routes/conn", `{"rules":[
		{"case":[["uri","==","/c"]],"actions":[["limit-conn",{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_code":409}]]}]}`)
	a := get("/c")
	w.Access(a)
	if a.Exited() {
		t.Fatalf("first: %d", a.ExitStatus)
	}
	b := get("/c")
	w.Access(b)
	if b.ExitStatus != 409 {
		t.Fatalf("second in flight: %d", b.ExitStatus)
	}
	w.Log(b)
	a.Path = "/changed" // log gives the slot back even when the case no longer matches
	w.Log(a)
	c := get("/c")
	w.Access(c)
	if c.Exited() {
		t.Fatalf("after the first finished: %d", c.ExitStatus)
	}
	w.Log(c)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct{ conf, err string }{
		{`{"rules":[{"actions":[["fake",{}]]}]}`, "unsupported action: fake"},
		{`{"rules":[{"actions":[["return",{}]]}]}`, `failed to validate the 'return' action: property "code" is required`},
		{`{"rules":[{"actions":[["return",{"code":99}]]}]}`, `failed to validate the 'return' action: property "code" validation failed`},
		{`{"rules":[{"actions":[["return",{"code":"403"}]]}]}`, `failed to validate the 'return' action: property "code" validation failed: wrong type`},
		{`{"rules":[{"actions":[["limit-count",{"count":1}]]}]}`, "failed to validate the 'limit-count' action: "},
		{`{"rules":[{"actions":[["limit-conn",{"conn":1,"burst":0,"key":"remote_addr"}]]}]}`, "failed to validate the 'limit-conn' action: "},
		{`{"rules":[{"case":[["uri","===","/a"]],"actions":[["return",{"code":403}]]}]}`, "failed to validate the 'case' expression: "},
	} {
		_, err := New(json.RawMessage(tc.conf), plugin.Env{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want prefix %q", tc.conf, err, tc.err)
		}
	}
}
