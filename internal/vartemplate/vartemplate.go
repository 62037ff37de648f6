// Package vartemplate compiles APISIX `$var` templates (core.utils.resolve_var) once, when a
// plugin conf is compiled, so a request only looks variables up by handle and appends bytes.
//
// Syntax (reference/plugins.md §0): `$name` (name is [A-Za-z0-9_.]+), `${name}` and
// `${name ?? default}` (spaces around the name and `??` allowed). A missing variable renders
// as "" or the default; `\$` is not substituted and the backslash stays.
package vartemplate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

type partKind uint8

const (
	partLit partKind = iota
	partVar
	partCapture
)

type part struct {
	kind   partKind
	lit    string
	v      plugin.Var
	def    string
	hasDef bool
	group  int
}

// Template is a compiled template. The zero value and nil render as "".
type Template struct {
	src   string
	parts []part
	// static: no substitution ever happens, src is the result.
	static bool
}

// Compile parses s with resolve_var's syntax.
func Compile(s string) *Template {
	t := &Template{src: s}
	t.parts = appendVarParts(nil, s)
	t.finish()
	return t
}

// CompileWithCaptures parses s as proxy-rewrite's header values: regex captures `$N`,
// `${N` or `$N}` (resolve_var_with_captures) are taken first, the rest is resolve_var's syntax.
// Captures are rendered from the Captures passed to AppendCaptures ("" when absent).
func CompileWithCaptures(s string) *Template {
	t := &Template{src: s}
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || (i > 0 && s[i-1] == '\\') {
			continue
		}
		j := i + 1
		if j < len(s) && s[j] == '{' {
			j++
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j {
			continue
		}
		n, err := strconv.Atoi(s[j:k])
		if err != nil {
			n = -1 // absurdly long: never a real group
		}
		if k < len(s) && s[k] == '}' {
			k++
		}
		t.parts = appendVarParts(t.parts, s[lit:i])
		t.parts = append(t.parts, part{kind: partCapture, group: n})
		lit = k
		i = k - 1
	}
	t.parts = appendVarParts(t.parts, s[lit:])
	t.finish()
	return t
}

// CompileLegacy parses s with the redirect plugin's older syntax: `$name` and `${name}` with
// names [0-9A-Za-z_], no defaults; `\$name` is kept verbatim (backslash included), a lone `$`
// stays, and a backslash that does not start `\$name` is dropped (as APISIX's gmatch skips it).
func CompileLegacy(s string) *Template {
	t := &Template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{kind: partLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) && s[i+1] == '$' {
				if n := wordLen(s[i+2:], false); n > 0 {
					lit.WriteString(s[i : i+2+n])
					i += 2 + n
					continue
				}
			}
			i++ // unmatched backslash: not part of any segment
		case c == '$':
			if i+1 < len(s) && s[i+1] == '{' {
				if n := wordLen(s[i+2:], false); n > 0 && i+2+n < len(s) && s[i+2+n] == '}' {
					flush()
					t.parts = append(t.parts, part{kind: partVar, v: plugin.ParseVar(s[i+2 : i+2+n])})
					i += 3 + n
					continue
				}
			}
			if n := wordLen(s[i+1:], false); n > 0 {
				flush()
				t.parts = append(t.parts, part{kind: partVar, v: plugin.ParseVar(s[i+1 : i+1+n])})
				i += 1 + n
				continue
			}
			lit.WriteByte('$')
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	t.finish()
	return t
}

func (t *Template) finish() {
	t.static = true
	for _, p := range t.parts {
		if p.kind != partLit {
			t.static = false
		}
	}
	if t.static {
		var b strings.Builder
		for _, p := range t.parts {
			b.WriteString(p.lit)
		}
		t.src = b.String()
	}
}

// appendVarParts parses s with resolve_var's pattern
// `(?<!\\)\$(\{\s*([^}]+?)\s*\}|([\w\.]+))` and appends its parts.
func appendVarParts(parts []part, s string) []part {
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || (i > 0 && s[i-1] == '\\') {
			continue
		}
		var p part
		end := -1
		if i+1 < len(s) && s[i+1] == '{' {
			if close := strings.IndexByte(s[i+2:], '}'); close > 0 {
				p = braced(s[i+2 : i+2+close])
				end = i + 3 + close
			}
		}
		if end < 0 {
			n := wordLen(s[i+1:], true)
			if n == 0 {
				continue
			}
			p = part{kind: partVar, v: plugin.ParseVar(s[i+1 : i+1+n])}
			end = i + 1 + n
		}
		if lit < i {
			parts = append(parts, part{kind: partLit, lit: s[lit:i]})
		}
		parts = append(parts, p)
		lit = end
		i = end - 1
	}
	if lit < len(s) {
		parts = append(parts, part{kind: partLit, lit: s[lit:]})
	}
	return parts
}

// braced compiles the inside of `${...}`: a name, optionally `?? default`.
func braced(in string) part {
	in = strings.TrimSpace(in)
	name, def, hasDef := strings.Cut(in, "??")
	p := part{kind: partVar, v: plugin.ParseVar(strings.TrimSpace(name))}
	if hasDef {
		def = strings.TrimSpace(def)
		if d, _, more := strings.Cut(def, "??"); more {
			def = strings.TrimSpace(d) // `a ?? b ?? c`: the second segment is the default
		}
		p.def, p.hasDef = def, true
	}
	return p
}

// wordLen is the length of the leading [A-Za-z0-9_] (plus '.' when dots) run of s.
func wordLen(s string, dots bool) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if isDigit(c) || c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (dots && c == '.') {
			n++
			continue
		}
		break
	}
	return n
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Captures are a regexp match: Idx as returned by (*regexp.Regexp).FindStringSubmatchIndex
// on Src. The zero value has no groups.
type Captures struct {
	Src string
	Idx []int
}

// Group returns capture n ("" when absent or not participating).
func (c *Captures) Group(n int) string {
	if c == nil || n < 0 || n >= len(c.Idx)/2 || c.Idx[2*n] < 0 {
		return ""
	}
	return c.Src[c.Idx[2*n]:c.Idx[2*n+1]]
}

// Escaper appends an escaped substituted value to dst.
type Escaper func(dst, value []byte) []byte

// Static reports whether the template never substitutes; s is then its constant value.
func (t *Template) Static() (s string, ok bool) {
	if t == nil {
		return "", true
	}
	return t.src, t.static
}

// Source is the template text as configured (the rendered constant for static templates).
func (t *Template) Source() string {
	if t == nil {
		return ""
	}
	return t.src
}

// Append renders the template onto dst. resolved counts substitutions that found a value
// (a `??` default counts), as resolve_var's third result.
func (t *Template) Append(dst []byte, vars plugin.Vars) (out []byte, resolved int) {
	return t.render(dst, vars, nil, nil)
}

// AppendEscaped is Append with every substituted value passed through esc.
func (t *Template) AppendEscaped(dst []byte, vars plugin.Vars, esc Escaper) ([]byte, int) {
	return t.render(dst, vars, nil, esc)
}

// AppendCaptures is Append for templates from CompileWithCaptures.
func (t *Template) AppendCaptures(dst []byte, vars plugin.Vars, caps *Captures) ([]byte, int) {
	return t.render(dst, vars, caps, nil)
}

// String renders the template; a static template returns its constant without allocating.
func (t *Template) String(vars plugin.Vars) string {
	if t == nil {
		return ""
	}
	if t.static {
		return t.src
	}
	b, _ := t.render(make([]byte, 0, 64), vars, nil, nil)
	return string(b)
}

func (t *Template) render(dst []byte, vars plugin.Vars, caps *Captures, esc Escaper) ([]byte, int) {
	if t == nil {
		return dst, 0
	}
	if t.static {
		return append(dst, t.src...), 0
	}
	n := 0
	for i := range t.parts {
		p := &t.parts[i]
		switch p.kind {
		case partLit:
			dst = append(dst, p.lit...)
		case partCapture:
			dst = append(dst, caps.Group(p.group)...)
		case partVar:
			var val []byte
			ok := false
			if vars != nil {
				val, ok = vars.Lookup(&p.v)
			}
			if !ok {
				if !p.hasDef {
					continue
				}
				val = unsafeBytes(p.def)
			}
			n++
			if esc != nil {
				dst = esc(dst, val)
			} else {
				dst = append(dst, val...)
			}
		}
	}
	return dst, n
}

// Scalar converts a JSON string or number as Lua's tostring does (numbers "%.14g"), for
// header values that a schema allows to be either.
func Scalar(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return "", fmt.Errorf("want a string or a number, got %s", raw)
	}
	return LuaNumber(f), nil
}

// LuaNumber formats f as LuaJIT's tostring ("%.14g").
func LuaNumber(f float64) string {
	return strconv.FormatFloat(f, 'g', 14, 64)
}
