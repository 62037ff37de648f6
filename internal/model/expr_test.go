package model

import (
	"encoding/json"
	"testing"
)

func TestCheckExpr(t *testing.T) {
	tests := []struct{ rule, want string }{
		{`[]`, ""},
		{`[["arg_a","==","1"]]`, ""},
		{`[["arg_a","1"]]`, ""},
		{`[["arg_a","!","==","1"]]`, ""},
		{`["OR",["arg_a","==","1"],["arg_b",">",2]]`, ""},
		{`[["AND",["arg_a","==","1"],["!OR",["arg_b","in",["x","y"]],["http_x","has","v"]]]]`, ""},
		{`[["remote_addr","ipmatch",["10.0.0.0/8","::1"]]]`, ""},
		{`[["uri","~*","^/API"]]`, ""},
		{`"arg_a"`, "rule should be wrapped inside brackets"},
		{`["arg_a","==","1"]`, "rule should be wrapped inside brackets"},
		{`[["arg_a","=~","1"]]`, "invalid operator '=~'"},
		{`[["arg_a","?","==","1"]]`, "bad 'not' expression"},
		{`[["arg_a"]]`, "invalid expression"},
		{`[["arg_a","in","x"]]`, "invalid operand of 'in': x should be an array"},
		{`[["remote_addr","ipmatch",["300.1.1.1"]]]`, "failed to create ip matcher: invalid ip address: 300.1.1.1"},
		{`[["uri","~~","(a"]]`, "invalid regex \"(a\": error parsing regexp: missing closing ): `(a`"},
		{`[["uri","~~","(?=a)"]]`, `invalid regex "(?=a)": lookahead "(?=" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
		{`[["uri","~~","(a)\\1"]]`, `invalid regex "(a)\\1": backreference "\\1" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
		{`[["uri","~~","(?>a)"]]`, `invalid regex "(?>a)": atomic group "(?>" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
		{`[["uri","~~","a++"]]`, `invalid regex "a++": possessive quantifier "++" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
		{`[["uri","~~","[(?=]\\d"]]`, ""},
		{`[["uri","~~","(?<name>a)"]]`, ""},
	}
	for _, tc := range tests {
		var rule any
		if err := json.Unmarshal([]byte(tc.rule), &rule); err != nil {
			t.Fatalf("bad test json %s: %v", tc.rule, err)
		}
		err := CheckExpr(rule)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.rule, got, tc.want)
		}
	}
}

func FuzzCheckRegex(f *testing.F) {
	for _, s := range []string{"^/a", "(?=x)", `\1`, "[a-z]+", "(?<n>x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, re string) {
		// must never panic, and anything accepted must compile.
		if CheckRegex(re) == nil {
			if _, ok := findPCREOnly(re); ok {
				t.Fatalf("accepted PCRE-only %q", re)
			}
		}
	})
}
