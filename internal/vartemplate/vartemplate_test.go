package vartemplate

import (
	"encoding/json"
	"testing"

	"github.com/sluicegw/sluice/plugin/plugintest"
)

func testCtx() *plugintest.Ctx {
	c := plugintest.New()
	c.Path = "/hello"
	c.Query.Set("name", "jack")
	c.ReqHeader.Set("X-Api-Key", "k1")
	c.Route = "r1"
	return c
}

// Cases follow plugins.md §0 and core.utils.resolve_var.
func TestCompile(t *testing.T) {
	for _, tc := range []struct {
		tpl, want string
		resolved  int
	}{
		{"plain", "plain", 0},
		{"$uri", "/hello", 1},
		{"${uri}/x", "/hello/x", 1},
		{"${ uri }", "/hello", 1},
		{"$arg_name-$http_x_api_key", "jack-k1", 2},
		{"${route_id}", "r1", 1},
		{"$missing|", "|", 0},
		{"${missing ?? dflt}", "dflt", 1},
		{"${missing??dflt}", "dflt", 1},
		{"${uri ?? dflt}", "/hello", 1},
		{`\$uri`, `\$uri`, 0},
		{"$", "$", 0},
		{"$$uri", "$/hello", 1},
		{"${uri", "${uri", 0},
		{"a$-b", "a$-b", 0},
		{"$uri.x", "", 0}, // names include dots: var "uri.x" is missing
	} {
		got, n := Compile(tc.tpl).Append(nil, testCtx())
		if string(got) != tc.want || n != tc.resolved {
			t.Errorf("%q: got %q (%d), want %q (%d)", tc.tpl, got, n, tc.want, tc.resolved)
		}
	}
}

func TestCompileWithCaptures(t *testing.T) {
	caps := &Captures{Src: "/api/v1/users", Idx: []int{0, 13, 5, 7, 8, 13}}
	for _, tc := range []struct{ tpl, want string }{
		{"$1", "v1"},
		{"${2}-$uri", "users-/hello"},
		{"$1abc", "v1abc"},
		{"$9", ""},
		{`\$1`, `\$1`},
		{"static", "static"},
	} {
		got, _ := CompileWithCaptures(tc.tpl).AppendCaptures(nil, testCtx(), caps)
		if string(got) != tc.want {
			t.Errorf("%q: got %q, want %q", tc.tpl, got, tc.want)
		}
	}
	// No regex matched: captures render empty.
	if got, _ := CompileWithCaptures("x$1y").AppendCaptures(nil, testCtx(), nil); string(got) != "xy" {
		t.Errorf("nil captures: %q", got)
	}
}

// Cases from t/plugin/redirect.t and plugins.md (redirect).
func TestCompileLegacy(t *testing.T) {
	for _, tc := range []struct{ tpl, want string }{
		{"/foo$$uri", "/foo$/hello"},
		{"$uri/$bad_var/bar", "/hello//bar"},
		{"${uri}/bar", "/hello/bar"},
		{`/a\$uri`, `/a\$uri`},
		{`/a\b`, "/ab"},
		{"https://$host$uri", "https://localhost/hello"},
		{"${ uri }", "${ uri }"},
	} {
		got, _ := CompileLegacy(tc.tpl).Append(nil, testCtx())
		if string(got) != tc.want {
			t.Errorf("%q: got %q, want %q", tc.tpl, got, tc.want)
		}
	}
}

func TestEscaped(t *testing.T) {
	c := testCtx()
	c.Query.Set("q", "a?b")
	esc := func(dst, v []byte) []byte {
		for _, b := range v {
			if b == '?' {
				dst = append(dst, "%3F"...)
				continue
			}
			dst = append(dst, b)
		}
		return dst
	}
	got, _ := Compile("/x/$arg_q?y=1").AppendEscaped(nil, c, esc)
	if string(got) != "/x/a%3Fb?y=1" {
		t.Fatalf("got %q", got)
	}
}

func TestStaticDoesNotAllocate(t *testing.T) {
	tpl := Compile("no vars here")
	c := testCtx()
	if n := testing.AllocsPerRun(100, func() { _ = tpl.String(c) }); n != 0 {
		t.Fatalf("static String allocates %v times", n)
	}
	dyn := Compile("$uri-$arg_name")
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = dyn.Append(buf[:0], c) }); n > 3 {
		t.Fatalf("Append allocates %v times", n) // plugintest.Ctx itself allocates per lookup
	}
}

func TestScalar(t *testing.T) {
	for raw, want := range map[string]string{`"a$b"`: "a$b", `1`: "1", `1.5`: "1.5", `1e20`: "1e+20", `100`: "100"} {
		got, err := Scalar(json.RawMessage(raw))
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v", raw, got, err)
		}
	}
	if _, err := Scalar(json.RawMessage(`true`)); err == nil {
		t.Error("bool accepted")
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"$uri", "${a ?? b}", `\$x`, "${", "$1${2}", "$$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := testCtx()
		Compile(s).Append(nil, c)
		CompileLegacy(s).Append(nil, c)
		CompileWithCaptures(s).AppendCaptures(nil, c, &Captures{Src: "ab", Idx: []int{0, 2, 1, 2}})
	})
}
