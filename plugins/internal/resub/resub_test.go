package resub

import (
	"regexp"
	"testing"
)

func TestSub(t *testing.T) {
	for _, tc := range []struct {
		re, opts, repl, src string
		global              bool
		want                string
		n                   int
	}{
		{`^/api/(.*)`, "jo", "/$1", "/api/users", false, "/users", 1},
		{`^/api/(.*)`, "jo", "/${1}x", "/api/users", false, "/usersx", 1},
		{`o`, "jo", "0", "foo", false, "f0o", 1},
		{`o`, "jo", "0", "foo", true, "f00", 2},
		{`O`, "ijo", "0", "foo", true, "f00", 2},
		{`x`, "jo", "y", "foo", true, "foo", 0},
		{`(a)`, "jo", "$$-$0-$2", "a", false, "$-a-", 1},
	} {
		re, err := CompileRegex(tc.re, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		tpl, err := Compile(tc.repl)
		if err != nil {
			t.Fatal(err)
		}
		got, n := Sub(nil, re, tpl, []byte(tc.src), tc.global)
		if string(got) != tc.want || n != tc.n {
			t.Errorf("%s/%s on %q: got %q (%d), want %q (%d)", tc.re, tc.repl, tc.src, got, n, tc.want, tc.n)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, repl := range []string{"$", "$x", "${1", "${x}"} {
		if _, err := Compile(repl); err == nil {
			t.Errorf("%q accepted", repl)
		}
	}
	if _, err := CompileRegex(`(?<=a)b`, "jo"); err == nil {
		t.Error("lookbehind accepted")
	}
	if _, err := CompileRegex(`a`, "x"); err == nil {
		t.Error("x flag accepted")
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"$1", "${2}x", "$$", "$99999999999999999999", "${7000000000000000000}"} {
		f.Add(s, "ab")
	}
	re := regexp.MustCompile(`(a)(b)?`)
	f.Fuzz(func(t *testing.T, repl, src string) {
		tpl, err := Compile(repl)
		if err != nil {
			return
		}
		Sub(nil, re, tpl, []byte(src), true)
	})
}
