// Package resub implements ngx.re.sub / ngx.re.gsub on Go's RE2 regexps: PCRE option letters
// and the `$0`, `$N`, `${N}`, `$$` replacement template, compiled once.
package resub

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
)

// CompileRegex compiles re with ngx.re option letters: i (case-insensitive), m (multi-line),
// s (dot matches newline), a (anchored), u/U (UTF-8, RE2's default), j, o, J, D (no effect
// here). x (extended) has no RE2 equivalent and is rejected.
func CompileRegex(re, options string) (*regexp.Regexp, error) {
	var flags strings.Builder
	anchored := false
	for _, o := range options {
		switch o {
		case 'i', 'm', 's':
			flags.WriteRune(o)
		case 'a':
			anchored = true
		case 'j', 'o', 'u', 'U', 'J', 'D':
		default:
			return nil, fmt.Errorf("unknown flag \"%c\" (flags \"%s\")", o, options)
		}
	}
	if err := model.CheckRegex(re); err != nil {
		return nil, err
	}
	expr := re
	if anchored {
		expr = `\A(?:` + expr + `)`
	}
	if flags.Len() > 0 {
		expr = "(?" + flags.String() + ")" + expr
	}
	return regexp.Compile(expr)
}

type part struct {
	lit   string
	group int // -1: literal
}

// Template is a compiled replacement.
type Template struct {
	parts []part
}

// Compile parses an ngx.re.sub replacement: `$$` is a dollar, `$N` and `${N}` are captures
// (empty when the regexp has fewer groups); any other `$` is an error, as in ngx.re.sub.
func Compile(repl string) (*Template, error) {
	t := &Template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '$' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(repl) {
			return nil, fmt.Errorf("lone \"$\" found in \"%s\"", repl)
		}
		if repl[i+1] == '$' {
			lit.WriteByte('$')
			i++
			continue
		}
		j, braced := i+1, false
		if repl[j] == '{' {
			braced = true
			j++
		}
		k := j
		for k < len(repl) && repl[k] >= '0' && repl[k] <= '9' {
			k++
		}
		if k == j {
			return nil, fmt.Errorf("invalid capturing variable name found in \"%s\"", repl)
		}
		if braced {
			if k >= len(repl) || repl[k] != '}' {
				return nil, fmt.Errorf("the closing bracket in \"%s\" variable is missing", repl[j:k])
			}
			k++
		}
		n, err := strconv.Atoi(strings.TrimSuffix(repl[j:k], "}"))
		if err != nil {
			return nil, fmt.Errorf("invalid capturing variable name found in \"%s\"", repl)
		}
		flush()
		t.parts = append(t.parts, part{group: n})
		i = k - 1
	}
	flush()
	return t, nil
}

// Expand appends the replacement for one match (idx from FindSubmatchIndex on src).
func (t *Template) Expand(dst, src []byte, idx []int) []byte {
	for _, p := range t.parts {
		if p.group < 0 {
			dst = append(dst, p.lit...)
			continue
		}
		if p.group < len(idx)/2 && idx[2*p.group] >= 0 {
			dst = append(dst, src[idx[2*p.group]:idx[2*p.group+1]]...)
		}
	}
	return dst
}

// ExpandString is Expand for a string source.
func (t *Template) ExpandString(dst []byte, src string, idx []int) []byte {
	for _, p := range t.parts {
		if p.group < 0 {
			dst = append(dst, p.lit...)
			continue
		}
		if p.group < len(idx)/2 && idx[2*p.group] >= 0 {
			dst = append(dst, src[idx[2*p.group]:idx[2*p.group+1]]...)
		}
	}
	return dst
}

// Sub replaces the first match of re in src (all matches when global), appending the result
// to dst; n is the number of replacements (0: dst gets src unchanged).
func Sub(dst []byte, re *regexp.Regexp, t *Template, src []byte, global bool) (out []byte, n int) {
	limit := 1
	if global {
		limit = -1
	}
	last := 0
	for _, idx := range re.FindAllSubmatchIndex(src, limit) {
		dst = append(dst, src[last:idx[0]]...)
		dst = t.Expand(dst, src, idx)
		last = idx[1]
		n++
	}
	return append(dst, src[last:]...), n
}
