package expr

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/plugin"
)

// mapVars resolves variables by their APISIX name from a map; absent names are nil.
type mapVars map[string]string

func (m mapVars) Lookup(v *plugin.Var) ([]byte, bool) {
	for name, val := range m {
		if plugin.ParseVar(name) == *v {
			return []byte(val), true
		}
	}
	return nil, false
}

// rule decodes a JSON rule the way the snapshot compiler hands it over.
func rule(t testing.TB, src string) any {
	t.Helper()
	var r any
	if err := json.Unmarshal([]byte(src), &r); err != nil {
		t.Fatalf("bad test rule %s: %v", src, err)
	}
	return r
}

func TestEval(t *testing.T) {
	cases := []struct {
		name string
		rule string
		vars mapVars
		want bool
	}{
		// lua-resty-expr t/v1/sanity.t
		{"sanity.t 1 uri args", `[["arg_k","==","v"]]`, mapVars{"arg_k": "v"}, true},
		{"sanity.t 2 [var, value] not hit", `[["arg_k","v"]]`, mapVars{"arg_k": "not_hit"}, false},
		{"sanity.t 2 [var, value] hit", `[["arg_k","v"]]`, mapVars{"arg_k": "v"}, true},
		{"sanity.t 3 http header", `[["http_test","==","v"]]`, mapVars{"http_test": "v"}, true},
		{"sanity.t 5 three conditions", `[["arg_k","==","v"],["host","==","localhost"],["server_port","==","1984"]]`,
			mapVars{"arg_k": "v", "host": "localhost", "server_port": "1984"}, true},
		{"sanity.t 6 one fails", `[["arg_k","v"],["host","localhost"],["server_port","1984-not"]]`,
			mapVars{"arg_k": "v", "host": "localhost", "server_port": "1984"}, false},
		{"sanity.t 7 ~= not hit", `[["arg_k","~=","v"]]`, mapVars{"arg_k": "v"}, false},
		{"sanity.t 8 ~= hit", `[["arg_k","~=","***"]]`, mapVars{"arg_k": "v"}, true},
		{"sanity.t 9 > number", `[["arg_k",">",10]]`, mapVars{"arg_k": "11"}, true},
		{"sanity.t 10 > number false", `[["arg_k",">",10]]`, mapVars{"arg_k": "9"}, false},
		{"sanity.t 12 > missing", `[["arg_k",">",10]]`, mapVars{}, false},
		{"sanity.t 13 ~= null present", `[["arg_k","~=",null]]`, mapVars{"arg_k": "v"}, true},
		{"sanity.t 36 ~= null missing", `[["http_test","~=",null]]`, mapVars{}, false},
		{"== null missing", `[["http_test","==",null]]`, mapVars{}, true},
		{"== null present", `[["http_test","==",null]]`, mapVars{"http_test": ""}, false},
		{"sanity.t 14 in hit", `[["arg_k","in",["1","2"]]]`, mapVars{"arg_k": "2"}, true},
		{"sanity.t 14 in miss", `[["arg_k","in",["1","2"]]]`, mapVars{"arg_k": "4"}, false},
		{"sanity.t 14 in missing", `[["arg_k","in",["1","2"]]]`, mapVars{}, false},
		{"in: string is not number (Lua equality)", `[["arg_k","in",[1,2]]]`, mapVars{"arg_k": "1"}, false},
		{"in: right side not an array", `[["arg_k","in","1"]]`, mapVars{"arg_k": "1"}, false},
		{"sanity.t 20 not in (Lua equality)", `[["arg_k","!","in",[1,2]]]`, mapVars{"arg_k": "1"}, true},
		{"has: single value", `[["arg_k","has","a"]]`, mapVars{"arg_k": "a"}, true},
		{"has: other value", `[["arg_k","has","a"]]`, mapVars{"arg_k": "b"}, false},
		{"has: missing", `[["arg_k","has","a"]]`, mapVars{}, false},
		{"sanity.t 21 not has", `[["arg_k","!","has","a"]]`, mapVars{"arg_k": "b"}, true},
		{"sanity.t 17 not >", `[["k","!",">",10]]`, mapVars{"k": "11"}, false},
		{"sanity.t 17 not > 9", `[["k","!",">",10]]`, mapVars{"k": "9"}, true},
		{"sanity.t 18 and + not", `[["x",">",10],["x","!",">",15]]`, mapVars{"x": "11"}, true},
		{"sanity.t 18 and + not 16", `[["x",">",10],["x","!",">",15]]`, mapVars{"x": "16"}, false},
		{"sanity.t 19 not ~~", `[["k","!","~~","[a-z]"]]`, mapVars{"k": "a"}, false},
		{"sanity.t 19 not ~~ digit", `[["k","!","~~","[a-z]"]]`, mapVars{"k": "9"}, true},
		{"~~ unanchored search", `[["k","~~","b+"]]`, mapVars{"k": "abbc"}, true},
		{"~~ case-sensitive", `[["k","~~","A"]]`, mapVars{"k": "a"}, false},
		{"sanity.t 22 ~* a", `[["x","~*","A"]]`, mapVars{"x": "a"}, true},
		{"sanity.t 22 ~* b", `[["x","~*","A"]]`, mapVars{"x": "b"}, false},
		{"sanity.t 22 ~* empty", `[["x","~*","A"]]`, mapVars{"x": ""}, false},
		{"sanity.t 23 not ~* empty", `[["x","!","~*","A"]]`, mapVars{"x": ""}, true},
		{"sanity.t 31 ~~ missing", `[["arg_name","~~","[a-z]{1,4}"]]`, mapVars{}, false},
		{"sanity.t 32 ~* missing", `[["arg_name","~*","[a-z]{1,4}"]]`, mapVars{}, false},
		{"not ~~ missing is true", `[["arg_name","!","~~","x"]]`, mapVars{}, true},
		{"sanity.t 26 ~= number equal", `[["arg_age","~=",18]]`, mapVars{"arg_age": "18"}, false},
		{"sanity.t 27 ~= number differs", `[["arg_age","~=",18]]`, mapVars{"arg_age": "16"}, true},
		{"sanity.t 28 ~= number, left not numeric", `[["arg_age","~=",18]]`, mapVars{"arg_age": "aa"}, true},
		{"sanity.t 29 ~= string compares strings", `[["arg_age","~=","18"]]`, mapVars{"arg_age": "18"}, false},
		{"~= string vs 18.0 differs as strings", `[["arg_age","~=","18"]]`, mapVars{"arg_age": "18.0"}, true},
		{"sanity.t 30 ~= missing", `[["arg_name","~=","jack"]]`, mapVars{}, true},
		{"~= number missing", `[["arg_name","~=",1]]`, mapVars{}, true},
		{"== number coerces left", `[["arg_k","==",18]]`, mapVars{"arg_k": "18.0"}, true},
		{"== number with spaces and hex", `[["arg_k","==",16]]`, mapVars{"arg_k": " 0x10 "}, true},
		{"== number, left not numeric", `[["arg_k","==",1]]`, mapVars{"arg_k": "1a"}, false},
		{"== number missing", `[["arg_k","==",1]]`, mapVars{}, false},
		{"== string does not coerce", `[["arg_k","==","18"]]`, mapVars{"arg_k": "18.0"}, false},
		{"== boolean never equal", `[["arg_k","==",true]]`, mapVars{"arg_k": "true"}, false},
		{"~= boolean always differs", `[["arg_k","~=",true]]`, mapVars{"arg_k": "true"}, true},
		{"sanity.t 34 >= string right", `[["arg_k",">=","2"]]`, mapVars{"arg_k": "2"}, true},
		{"sanity.t 34 >= 3", `[["arg_k",">=",3]]`, mapVars{"arg_k": "2"}, false},
		{"sanity.t 35 <= string right", `[["arg_k","<=","2"]]`, mapVars{"arg_k": "3"}, false},
		{"sanity.t 35 <= 3", `[["arg_k","<=",3]]`, mapVars{"arg_k": "3"}, true},
		{"< exponent", `[["arg_k","<",1000]]`, mapVars{"arg_k": "1e2"}, true},
		{"< negative", `[["arg_k","<",0]]`, mapVars{"arg_k": "-1.5"}, true},
		{"> right side not numeric", `[["arg_k",">","abc"]]`, mapVars{"arg_k": "1"}, false},
		{"> left not numeric", `[["arg_k",">",1]]`, mapVars{"arg_k": "12abc"}, false},
		{"> empty", `[["arg_k",">",-1]]`, mapVars{"arg_k": ""}, false},
		{"not > non-numeric is true", `[["arg_k","!",">",1]]`, mapVars{"arg_k": "x"}, true},
		{"sanity.t 33 operators case-insensitive", `["or",["x","HAS","a"],["x","HAS","c"]]`, mapVars{"x": "c"}, true},
		{"operators case-insensitive IN", `[["x","IN",["a"]]]`, mapVars{"x": "a"}, true},
		{"[var, value] lower-cases the value (resty.expr)", `[["arg_k","V"]]`, mapVars{"arg_k": "v"}, true},
		{"[var, value] lower-cases the value: upper miss", `[["arg_k","V"]]`, mapVars{"arg_k": "V"}, false},
		{"[var, number] compares as a string", `[["arg_k",1]]`, mapVars{"arg_k": "1"}, true},
		{"[var, number] not 1.0", `[["arg_k",1]]`, mapVars{"arg_k": "1.0"}, false},
		{"[var, op] keeps the operator", `[["arg_k","in"]]`, mapVars{"arg_k": "in"}, false},
		{"extra elements ignored", `[["arg_k","==","v","x","y"]]`, mapVars{"arg_k": "v"}, true},
		{"non-string variable reads nil", `[[1,"==",null]]`, mapVars{"1": "x"}, true},
		// ipmatcher.t
		{"ipmatcher.t 1 sanity", `[["remote_addr","ipmatch","127.0.0.1"]]`, mapVars{"remote_addr": "127.0.0.1"}, true},
		{"ipmatcher.t 3 table", `[["remote_addr","ipmatch",["127.0.0.1"]]]`, mapVars{"remote_addr": "127.0.0.1"}, true},
		{"ipmatcher.t 4 CIDR", `[["remote_addr","ipmatch","127.0.0.0/16"]]`, mapVars{"remote_addr": "127.0.3.1"}, true},
		{"ipmatcher.t 5 multiple", `[["remote_addr","ipmatch",["127.0.0.1","127.0.0.2"]]]`, mapVars{"remote_addr": "127.0.0.2"}, true},
		{"ipmatcher.t 5 multiple miss", `[["remote_addr","ipmatch",["127.0.0.2","127.0.0.3"]]]`, mapVars{"remote_addr": "127.0.0.1"}, false},
		{"ipmatcher.t 6 arg", `[["arg_real_ip","ipmatch",["127.0.0.1"]]]`, mapVars{"arg_real_ip": "127.0.0.1"}, true},
		{"ipmatcher.t 7 header miss", `[["http_real_ip","ipmatch",["127.0.0.2"]]]`, mapVars{"http_real_ip": "127.0.0.1"}, false},
		{"ipmatcher.t 8 with other", `[["remote_addr","ipmatch",["127.0.0.1"]],["arg_k","==","v"]]`,
			mapVars{"remote_addr": "127.0.0.1", "arg_k": "v"}, true},
		{"ipmatch IPv6 CIDR", `[["remote_addr","ipmatch",["10.0.0.0/8","fe80::/32"]]]`, mapVars{"remote_addr": "fe80::1"}, true},
		{"ipmatch IPv6 outside", `[["remote_addr","ipmatch",["fe80::/32"]]]`, mapVars{"remote_addr": "fe81::1"}, false},
		{"ipmatch IPv6 exact", `[["remote_addr","ipmatch","::1"]]`, mapVars{"remote_addr": "::1"}, true},
		{"ipmatch v4 vs v6 rule", `[["remote_addr","ipmatch","::1"]]`, mapVars{"remote_addr": "127.0.0.1"}, false},
		{"ipmatch not an IP", `[["remote_addr","ipmatch","127.0.0.1"]]`, mapVars{"remote_addr": "localhost"}, false},
		{"ipmatch missing", `[["remote_addr","ipmatch","127.0.0.1"]]`, mapVars{}, false},
		{"not ipmatch", `[["remote_addr","!","ipmatch","127.0.0.1"]]`, mapVars{"remote_addr": "10.1.1.1"}, true},
		// README / and.t / or.t / not.t: logic operators and nesting
		{"AND all true", `["AND",["a","==","1"],["b","==","2"]]`, mapVars{"a": "1", "b": "2"}, true},
		{"AND one false", `["AND",["a","==","1"],["b","==","2"]]`, mapVars{"a": "1", "b": "3"}, false},
		{"OR one true", `["OR",["a","==","1"],["b","==","2"]]`, mapVars{"a": "0", "b": "2"}, true},
		{"OR none", `["OR",["a","==","1"],["b","==","2"]]`, mapVars{}, false},
		{"!AND", `["!AND",["a","==","1"],["b","==","2"]]`, mapVars{"a": "1", "b": "2"}, false},
		{"!AND partly", `["!AND",["a","==","1"],["b","==","2"]]`, mapVars{"a": "1"}, true},
		{"!OR none", `["!OR",["a","==","1"],["b","==","2"]]`, mapVars{}, true},
		{"!OR one", `["!OR",["a","==","1"],["b","==","2"]]`, mapVars{"b": "2"}, false},
		{"logic op case-insensitive", `["and",["a","==","1"],["b","==","2"]]`, mapVars{"a": "1", "b": "2"}, true},
		{"OR with negated leaf", `["OR",["a","==","1"],["b","!","==","2"]]`, mapVars{"b": "3"}, true},
		{"README nested !AND / OR: json & weight>10 → false", `["!AND",["arg_name","==","json"],["OR",["arg_weight",">",10],["arg_height","!",">",15]]]`,
			mapVars{"arg_name": "json", "arg_weight": "11"}, false},
		{"README nested !AND / OR: name differs → true", `["!AND",["arg_name","==","json"],["OR",["arg_weight",">",10],["arg_height","!",">",15]]]`,
			mapVars{"arg_name": "xml", "arg_weight": "11"}, true},
		{"README nested !AND / OR: inner false → true", `["!AND",["arg_name","==","json"],["OR",["arg_weight",">",10],["arg_height","!",">",15]]]`,
			mapVars{"arg_name": "json", "arg_weight": "1", "arg_height": "16"}, true},
		{"nested list is AND", `[[["a","==","1"],["b","==","2"]],["c","==","3"]]`, mapVars{"a": "1", "b": "2", "c": "3"}, true},
		{"nested list is AND, inner fails", `[[["a","==","1"],["b","==","2"]],["c","==","3"]]`, mapVars{"a": "1", "c": "3"}, false},
		{"deep nesting", `["OR",["AND",["a","==","1"],["OR",["b","==","x"],["c","==","y"]]],["d","==","z"]]`,
			mapVars{"a": "1", "c": "y"}, true},
		{"empty rule is true", `[]`, mapVars{}, true},
		{"uri_param variable", `[["uri_param_id","==","7"]]`, mapVars{"uri_param_id": "7"}, true},
		{"cookie variable", `[["cookie_k","~~","^a"]]`, mapVars{"cookie_k": "abc"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(rule(t, tc.rule))
			if err != nil {
				t.Fatalf("Compile(%s): %v", tc.rule, err)
			}
			if got := e.Eval(tc.vars); got != tc.want {
				t.Fatalf("Eval(%s, %v) = %v, want %v", tc.rule, tc.vars, got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name, rule, want string
	}{
		{"not wrapped: a bare condition", `["arg_k","==","v"]`, "rule should be wrapped inside brackets"},
		{"not wrapped: an object", `{"a":1}`, "rule should be wrapped inside brackets"},
		{"not wrapped: element not an array", `[["arg_k","==","v"],"x"]`, "rule should be wrapped inside brackets"},
		{"logic op with one rule", `["OR",["a","==","1"]]`, "rule too short"},
		{"empty nested rule", `[[]]`, "rule too short"},
		{"sanity.t 11 invalid operator", `[["arg_k","invalid",10]]`, "invalid operator 'invalid'"},
		{"bad not", `[["arg_k","?","==","v"]]`, "bad 'not' expression"},
		{"one element", `[["arg_k"]]`, "invalid expression"},
		{"null operator", `[["arg_k",null,"v"]]`, "invalid expression"},
		{"boolean operator", `[["arg_k",true,"v"]]`, "invalid expression"},
		{"ipmatcher.t 2 null", `[["remote_addr","ipmatch"]]`, "invalid ip address"},
		{"ipmatcher.t 2 empty string", `[["remote_addr","ipmatch",""]]`, "invalid ip address"},
		{"ipmatcher.t 2 empty list", `[["remote_addr","ipmatch",[]]]`, "invalid ip address"},
		{"ipmatcher.t 2 empty element", `[["remote_addr","ipmatch",[""]]]`, "invalid ip address: "},
		{"ipmatch bad CIDR", `[["remote_addr","ipmatch",["10.0.0.0/33"]]]`, "invalid ip address: 10.0.0.0/33"},
		{"regex not a string", `[["arg_k","~~",1]]`, "invalid regex"},
		{"regex does not compile", `[["arg_k","~~","(a"]]`, "invalid regex"},
		{"PCRE-only regex", `[["arg_k","~*","a(?=b)"]]`, "lookahead"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(rule(t, tc.rule))
			if err == nil {
				t.Fatalf("Compile(%s) = %v, want error %q", tc.rule, e, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile(%s) error %q, want %q", tc.rule, err, tc.want)
			}
		})
	}
}

func TestNilAndEmpty(t *testing.T) {
	for _, r := range []any{nil, []any{}} {
		e, err := Compile(r)
		if err != nil || e != nil {
			t.Fatalf("Compile(%v) = %v, %v; want nil, nil", r, e, err)
		}
	}
	var e *Expr
	if !e.Eval(mapVars{}) || !(&Expr{}).Eval(nil) {
		t.Fatal("nil and zero Expr must be true")
	}
	if !MustCompile([]any{[]any{"a", "==", nil}}).Eval(nil) {
		t.Fatal("nil Vars: every variable is missing")
	}
}

func TestUses(t *testing.T) {
	e := MustCompile(rule(t, `["OR",["arg_a","==","1"],[["uri_param_id","==","2"]]]`))
	if !e.Uses(plugin.VarURIParam) || !e.Uses(plugin.VarArg) || e.Uses(plugin.VarHeader) {
		t.Fatalf("Uses: got uri_param=%v arg=%v header=%v", e.Uses(plugin.VarURIParam), e.Uses(plugin.VarArg), e.Uses(plugin.VarHeader))
	}
	if (*Expr)(nil).Uses(plugin.VarArg) {
		t.Fatal("nil Expr uses nothing")
	}
}

func TestToNumber(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10", 10, true}, {"-10", -10, true}, {"+1.5", 1.5, true}, {" 7\t\n", 7, true},
		{"1e3", 1000, true}, {"1E-2", 0.01, true}, {".5", 0.5, true}, {"5.", 5, true},
		{"0x10", 16, true}, {"0XfF", 255, true}, {"-0x10", -16, true}, {"0x1p4", 16, true}, {"0x.8", 0.5, true},
		{"inf", math.Inf(1), true}, {"-Infinity", math.Inf(-1), true},
		{"", 0, false}, {" ", 0, false}, {"abc", 0, false}, {"1a", 0, false}, {"1e", 0, false},
		{"0x", 0, false}, {"0xg", 0, false}, {".", 0, false}, {"1_000", 0, false}, {"--1", 0, false},
		{"1 2", 0, false}, {"infx", 0, false},
	}
	for _, tc := range cases {
		got, ok := toNumber([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("toNumber(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if f, ok := toNumber([]byte("nan")); !ok || !math.IsNaN(f) {
		t.Errorf("toNumber(nan) = %v, %v", f, ok)
	}
}

// benchVars answers from fixed slices without allocating.
type benchVars struct{ arg, header, addr []byte }

func (b *benchVars) Lookup(v *plugin.Var) ([]byte, bool) {
	switch v.Kind {
	case plugin.VarArg:
		return b.arg, true
	case plugin.VarHeader:
		return b.header, true
	case plugin.VarRemoteAddr:
		return b.addr, true
	}
	return nil, false
}

const benchRule = `["AND",["arg_k","==","v"],["http_x_ver",">=",2],["http_x_ver","~~","^[0-9]+$"],` +
	`["arg_k","in",["a","b","v"]],["remote_addr","ipmatch",["10.0.0.0/8","127.0.0.1"]],["OR",["arg_k","~*","V"],["http_missing","==","x"]]]`

func TestEvalDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	e := MustCompile(rule(t, benchRule))
	v := &benchVars{arg: []byte("v"), header: []byte("12"), addr: []byte("127.0.0.1")}
	if !e.Eval(v) {
		t.Fatal("bench rule must match")
	}
	if n := testing.AllocsPerRun(100, func() { e.Eval(v) }); n != 0 {
		t.Fatalf("Eval allocates %v times", n)
	}
}

func BenchmarkEval(b *testing.B) {
	e := MustCompile(rule(b, benchRule))
	v := &benchVars{arg: []byte("v"), header: []byte("12"), addr: []byte("127.0.0.1")}
	b.ReportAllocs()
	for b.Loop() {
		if !e.Eval(v) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkEvalSimple(b *testing.B) {
	e := MustCompile(rule(b, `[["arg_k","==","v"]]`))
	v := &benchVars{arg: []byte("v")}
	b.ReportAllocs()
	for b.Loop() {
		e.Eval(v)
	}
}

// FuzzCompile: any JSON either fails to compile or evaluates without panicking.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{benchRule, `[["a","b"]]`, `["OR",["a","!","in",[1,"x"]],[["b","ipmatch","::1/64"]]]`, `[[1,2,3,4]]`} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, src, val string) {
		var r any
		if json.Unmarshal([]byte(src), &r) != nil {
			return
		}
		e, err := Compile(r)
		if err != nil {
			return
		}
		e.Eval(&benchVars{arg: []byte(val), header: []byte(val), addr: []byte(val)})
	})
}
