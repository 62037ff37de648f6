package requestvalidation

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

const bodySchema = `{"type":"object","required":["required_payload"],"properties":{` +
	`"required_payload":{"type":"string","minLength":2},"boolean_payload":{"type":"boolean"},` +
	`"num":{"type":"integer","minimum":1}}}`

func TestRewrite(t *testing.T) {
	cases := []struct {
		name, conf, ctype, body string
		header                  map[string][]string
		status                  int // 0: passed
		exitBody                string
		upstreamBody            string // the body sent on after a JSON body passed
	}{
		{name: "valid json re-encoded", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{ "required_payload": "ok", "num": 2 }`, upstreamBody: `{"num":2,"required_payload":"ok"}`},
		{name: "missing property", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{"num":2}`, status: 400, exitBody: `property "required_payload" is required`},
		{name: "nested failure", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{"required_payload":"x"}`, status: 400,
			exitBody: `property "required_payload" validation failed: string too short, expected at least 2, got 1`},
		{name: "minimum", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{"required_payload":"xx","num":0}`, status: 400,
			exitBody: `property "num" validation failed: expected 0 to be at least 1`},
		{name: "custom code and msg", conf: `{"body_schema":` + bodySchema + `,"rejected_code":422,"rejected_msg":"bad body"}`,
			ctype: "application/json", body: `{}`, status: 422, exitBody: "bad body"},
		{name: "duplicate key last wins accepted", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{"required_payload":1,"required_payload":"last"}`, upstreamBody: `{"required_payload":"last"}`},
		{name: "duplicate key last wins rejected", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{"required_payload":"first","required_payload":1}`, status: 400,
			exitBody: `property "required_payload" validation failed: wrong type: expected string, got number`},
		{name: "invalid json", conf: `{"body_schema":` + bodySchema + `}`, ctype: "application/json",
			body: `{"required_payload":}`, status: 400,
			exitBody: `Expected value but found T_OBJ_END at character 21`},
		{name: "not json", conf: `{"body_schema":` + bodySchema + `}`, body: `hello`, status: 400,
			exitBody: `Expected value but found invalid token at character 1`},
		{name: "trailing", conf: `{"body_schema":` + bodySchema + `}`, body: `{"required_payload":"ok"} x`, status: 400,
			exitBody: `Expected the end but found invalid token at character 27`},
		{name: "missing body", conf: `{"body_schema":` + bodySchema + `}`, status: 400},
		{name: "missing body custom msg", conf: `{"body_schema":` + bodySchema + `,"rejected_msg":"no"}`, status: 400, exitBody: "no"},
		{name: "too large", conf: `{"body_schema":` + bodySchema + `,"max_req_body_size":5}`, body: `{"required_payload":"ok"}`, status: 400},
		{name: "form ok", conf: `{"body_schema":{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}}}`,
			ctype: "Application/X-WWW-Form-Urlencoded; charset=utf-8", body: "a=1&b=x%20y"},
		{name: "form values are strings", conf: `{"body_schema":` + bodySchema + `}`,
			ctype: "application/x-www-form-urlencoded", body: "required_payload=ok&num=3", status: 400,
			exitBody: `property "num" validation failed: wrong type: expected integer, got string`},
		{name: "form repeated is array", conf: `{"body_schema":{"properties":{"a":{"type":"array","maxItems":1}}}}`,
			ctype: "application/x-www-form-urlencoded", body: "a=1&a=2", status: 400,
			exitBody: `property "a" validation failed: expect array to have at most 1 items`},
		{name: "header required", conf: `{"header_schema":{"type":"object","required":["x-token"]}}`, status: 400,
			exitBody: `property "x-token" is required`},
		{name: "header ok", conf: `{"header_schema":{"type":"object","required":["x-token"],"properties":{"x-token":{"enum":["a"]}}}}`,
			header: map[string][]string{"X-Token": {"a"}}},
		{name: "header enum", conf: `{"header_schema":{"properties":{"x-token":{"enum":["a"]}}}}`,
			header: map[string][]string{"X-Token": {"b"}}, status: 400,
			exitBody: `property "x-token" validation failed: matches none of the enum values`},
		{name: "header repeated is array", conf: `{"header_schema":{"properties":{"x-token":{"type":"string"}}}}`,
			header: map[string][]string{"X-Token": {"a", "b"}}, status: 400,
			exitBody: `property "x-token" validation failed: wrong type: expected string, got table`},
		{name: "duplicate content-type", conf: `{"body_schema":` + bodySchema + `}`,
			header: map[string][]string{"Content-Type": {"application/json", "text/plain"}}, body: `{"required_payload":"ok"}`, status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inst := plugintest.MustNew(t, "request-validation", tc.conf).(plugin.Rewriter)
			c := plugintest.New()
			c.MethodV = "POST"
			for k, vs := range tc.header {
				for _, v := range vs {
					c.ReqHeader.Add(k, v)
				}
			}
			if tc.ctype != "" {
				c.ReqHeader.Set("Content-Type", tc.ctype)
			}
			if tc.body != "" {
				c.ReqBody = []byte(tc.body)
			}
			inst.Rewrite(c)
			if c.ExitStatus != tc.status {
				t.Fatalf("status %d, want %d (body %q)", c.ExitStatus, tc.status, c.ExitBody)
			}
			if tc.status != 0 && string(c.ExitBody) != tc.exitBody {
				t.Errorf("exit body %q, want %q", c.ExitBody, tc.exitBody)
			}
			if tc.upstreamBody != "" && string(c.ReqBody) != tc.upstreamBody {
				t.Errorf("upstream body %q, want %q", c.ReqBody, tc.upstreamBody)
			}
		})
	}
}

func TestNewRejectsBadSchema(t *testing.T) {
	def, _ := plugin.Lookup("request-validation")
	for _, conf := range []string{
		`{"body_schema":{"type":"nope"}}`,
		`{"header_schema":{"properties":{"a":{"minLength":-1}}}}`,
	} {
		if _, err := def.New(json.RawMessage(conf), plugin.Env{}); err == nil {
			t.Errorf("New(%s) accepted an invalid schema", conf)
		}
	}
}

func TestCJSONErrors(t *testing.T) {
	for body, want := range map[string]string{
		``:                 "Expected value but found T_END at character 1",
		`{"a" 1}`:          "Expected colon but found T_NUMBER at character 6",
		`{"a":1 "b":2}`:    "Expected comma or object end but found T_STRING at character 8",
		`[1 2]`:            "Expected comma or array end but found T_NUMBER at character 4",
		`{1:2}`:            "Expected object key string but found T_NUMBER at character 2",
		`"abc`:             "Expected value but found unexpected end of string at character 5",
		`"a\x"`:            "Expected value but found invalid escape code at character 3",
		`-`:                "Expected value but found invalid number at character 1",
		`{"a":[1,2,3]}`:    "",
		` {"a":"\u00e9"} `: "",
	} {
		if got := cjsonError([]byte(body)); got != want {
			t.Errorf("cjsonError(%q) = %q, want %q", body, got, want)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"x",{"b":null}]`, `{"a":}`, `"\u12"`, `-1e5`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := decodeJSON(b)
		if err != nil {
			return
		}
		out, err := encodeJSON(doc)
		if err != nil {
			t.Fatalf("re-encode %q: %v", b, err)
		}
		if !json.Valid(out) {
			t.Fatalf("re-encoded %q is not JSON: %q", b, out)
		}
	})
}
