package expr

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEvalOps: one condition per operator, matching and not, on the values a request
// carries ($arg_k = "v", $http_x_ver = "12", $remote_addr = "127.0.0.1"), then the shapes route
// `vars` and plugin filters take in practice: wide AND / OR lists and nesting. Everything is
// compiled before the loop, as the router and the plugin runtime do; allocs/op must be 0.
// BenchmarkEval (expr_test.go) is the mixed rule the allocation test pins.
func BenchmarkEvalOps(b *testing.B) {
	cases := []struct{ name, rule string }{
		{"eq", `[["arg_k","==","v"]]`},
		{"eq-miss", `[["arg_k","==","w"]]`},
		{"eq-number", `[["http_x_ver","==",12]]`},
		{"ne", `[["arg_k","~=","w"]]`},
		{"gt", `[["http_x_ver",">",2]]`},
		{"le", `[["http_x_ver","<=",2]]`},
		{"not-eq", `[["arg_k","!","==","w"]]`},
		{"regex", `[["http_x_ver","~~","^[0-9]+$"]]`},
		{"regex-ci", `[["arg_k","~*","^V$"]]`},
		{"in-3", `[["arg_k","in",["a","b","v"]]]`},
		{"in-32-miss", `[["arg_k","in",[` + quotedList("x", 32) + `]]]`},
		{"has", `[["arg_k","has","v"]]`},
		{"ipmatch-v4", `[["remote_addr","ipmatch",["10.0.0.0/8","127.0.0.1"]]]`},
		{"ipmatch-16-cidrs", `[["remote_addr","ipmatch",[` + cidrList(16) + `,"127.0.0.0/8"]]]`},
		{"missing-var", `[["http_absent","==","x"]]`},
		{"and-8", `["AND",` + repeatCond(`["arg_k","==","v"]`, 8) + `]`},
		{"or-8-last", `["OR",` + repeatCond(`["arg_k","==","w"]`, 7) + `,["arg_k","==","v"]]`},
		{"nested", `["OR",["AND",["arg_k","==","w"],["http_x_ver",">",1]],["AND",["arg_k","in",["v","u"]],["!AND",["remote_addr","ipmatch","10.0.0.0/8"],["arg_k","==","w"]]]]`},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			e := MustCompile(rule(b, tc.rule))
			v := &benchVars{arg: []byte("v"), header: []byte("12"), addr: []byte("127.0.0.1")}
			want := e.Eval(v)
			b.ReportAllocs()
			for b.Loop() {
				if e.Eval(v) != want {
					b.Fatal("result changed")
				}
			}
		})
	}
}

// BenchmarkCompile is what an Admin API write or a config reload pays per expression (the
// request path never compiles).
func BenchmarkCompile(b *testing.B) {
	r := rule(b, benchRule)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(r); err != nil {
			b.Fatal(err)
		}
	}
}

func quotedList(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(prefix, i))
	}
	return strings.Join(parts, ",")
}

func cidrList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"10.%d.0.0/16"`, i)
	}
	return strings.Join(parts, ",")
}

func repeatCond(c string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = c
	}
	return strings.Join(parts, ",")
}
