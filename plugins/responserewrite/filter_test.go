package responserewrite

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func newInst(t *testing.T, conf string) *ResponseRewrite {
	t.Helper()
	d, _ := plugin.Lookup("response-rewrite")
	inst, err := d.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return inst.(*ResponseRewrite)
}

func respond(r *ResponseRewrite, c *plugintest.Ctx, chunks ...[]byte) string {
	r.HeaderFilter(c)
	var out []byte
	for i, ch := range chunks {
		out = append(out, r.BodyFilter(c, ch, i == len(chunks)-1)...)
	}
	return string(out)
}

func upstream() *plugintest.Ctx {
	c := plugintest.New()
	c.RespHdr.Set("Content-Length", "11")
	c.RespHdr.Set("ETag", "abc")
	c.RespHdr.Set("Last-Modified", "x")
	c.RespHdr.Set("X-Remove", "1")
	return c
}

// Cases after t/plugin/response-rewrite.t and plugins.md §5.
func TestResponseRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, conf, arg string
		chunks          []string
		status          int
		body            string
		headers         map[string]string
	}{
		{"body and status", `{"body":"new body\n","status_code":403}`, "", []string{"hello ", "world"}, 403, "new body\n",
			map[string]string{"Content-Length": "", "ETag": "", "Last-Modified": ""}},
		{"body_base64", `{"body":"SGVsbG8K","body_base64":true}`, "", []string{"x"}, 200, "Hello\n", nil},
		{"legacy headers = set, $var", `{"headers":{"X-Server-Id":3,"X-Uri":"$uri"}}`, "", []string{"hello"}, 200, "hello",
			map[string]string{"X-Server-Id": "3", "X-Uri": "/", "Content-Length": "11"}},
		{"headers add/set/remove", `{"headers":{"add":["X-Add: a $arg_name"],"set":{"X-Set":"s"},"remove":["X-Remove"]}}`, "jack", []string{"hi"}, 200, "hi",
			map[string]string{"X-Add": "a jack", "X-Set": "s", "X-Remove": ""}},
		{"vars false: inert", `{"vars":[["arg_name","==","rose"]],"body":"x","status_code":500}`, "jack", []string{"orig"}, 200, "orig",
			map[string]string{"ETag": "abc"}},
		{"vars true", `{"vars":[["arg_name","==","jack"]],"body":"x"}`, "jack", []string{"orig"}, 200, "x", nil},
		{"filters once", `{"filters":[{"regex":"l","replace":"L"}]}`, "", []string{"hel", "lo"}, 200, "heLlo", nil},
		{"filters global with captures", `{"filters":[{"regex":"(l+)","replace":"<$1>","scope":"global"}]}`, "", []string{"hello wo", "rld"}, 200, "he<ll>o wor<l>d", nil},
		{"filters options i", `{"filters":[{"regex":"HELLO","replace":"bye","options":"ijo"}]}`, "", []string{"hello"}, 200, "bye", nil},
		{"filters in order", `{"filters":[{"regex":"a","replace":"b"},{"regex":"b","replace":"c","scope":"global"}]}`, "", []string{"ab"}, 200, "cc", nil},
		{"max_resp_body_size truncates", `{"filters":[{"regex":"x","replace":"y"}],"max_resp_body_size":3}`, "", []string{"abcdef"}, 200, "abc", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newInst(t, tc.conf)
			c := upstream()
			if tc.arg != "" {
				c.Query.Set("name", tc.arg)
			}
			var chunks [][]byte
			for _, s := range tc.chunks {
				chunks = append(chunks, []byte(s))
			}
			body := respond(r, c, chunks...)
			if body != tc.body || c.StatusV != tc.status {
				t.Fatalf("got %d %q, want %d %q", c.StatusV, body, tc.status, tc.body)
			}
			for k, want := range tc.headers {
				if got := c.RespHdr.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestFiltersGzip(t *testing.T) {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte("hello world"))
	zw.Close()
	r := newInst(t, `{"filters":[{"regex":"world","replace":"sluice"}]}`)
	c := upstream()
	c.RespHdr.Set("Content-Encoding", "gzip")
	z := zb.Bytes()
	body := respond(r, c, z[:5], z[5:])
	if body != "hello sluice" || c.RespHdr.Get("Content-Encoding") != "" {
		t.Fatalf("got %q, encoding %q", body, c.RespHdr.Get("Content-Encoding"))
	}
}

func TestNewErrors(t *testing.T) {
	d, _ := plugin.Lookup("response-rewrite")
	for conf, want := range map[string]string{
		`{"body":"!!!","body_base64":true}`:               "invalid base64 content",
		`{"body_base64":true}`:                            "invalid base64 content",
		`{"vars":["arg_name","==","jack"]}`:               "failed to validate the 'vars' expression: ",
		`{"filters":[{"regex":"(?<=a)b","replace":"x"}]}`: `regex "(?<=a)b" validation failed: `,
	} {
		_, err := d.New(json.RawMessage(conf), plugin.Env{})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", conf, err, want)
		}
	}
}
