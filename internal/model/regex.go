package model

import (
	"fmt"
	"regexp"
	"strings"
)

// pcreConstruct names a PCRE feature RE2 lacks, found by its opening text.
type pcreConstruct struct {
	token string
	name  string
}

// pcreGroups are the group openers RE2 rejects; longer tokens first so `(?<=` is not read
// as a named group.
var pcreGroups = []pcreConstruct{
	{"(?<=", "lookbehind"},
	{"(?<!", "negative lookbehind"},
	{"(?=", "lookahead"},
	{"(?!", "negative lookahead"},
	{"(?>", "atomic group"},
	{"(?|", "branch reset group"},
	{"(?R)", "recursion"},
	{"(?&", "subroutine call"},
	{"(?(", "conditional group"},
	{"(*", "backtracking control verb"},
}

// CheckRegex reports whether re compiles as an RE2 regular expression (Go's regexp), the
// engine Sluice uses wherever APISIX uses PCRE. A PCRE-only construct (lookaround,
// backreference, atomic group, possessive quantifier ...) is rejected naming it — Sluice's
// documented deviation.
func CheckRegex(re string) error {
	if c, ok := findPCREOnly(re); ok {
		return fmt.Errorf("invalid regex %q: %s %q is a PCRE-only construct; Sluice uses RE2 regular expressions", re, c.name, c.token)
	}
	if _, err := regexp.Compile(re); err != nil {
		return fmt.Errorf("invalid regex %q: %w", re, err)
	}
	return nil
}

// findPCREOnly scans re outside character classes and escapes for PCRE-only syntax.
func findPCREOnly(re string) (pcreConstruct, bool) {
	inClass := false
	for i := 0; i < len(re); i++ {
		c := re[i]
		if c == '\\' && i+1 < len(re) {
			n := re[i+1]
			if !inClass {
				switch {
				case n >= '1' && n <= '9':
					return pcreConstruct{re[i : i+2], "backreference"}, true
				case n == 'k' || n == 'g':
					return pcreConstruct{re[i : i+2], "backreference"}, true
				case n == 'K':
					return pcreConstruct{`\K`, "match reset"}, true
				case n == 'G':
					return pcreConstruct{`\G`, "previous-match anchor"}, true
				}
			}
			i++
			continue
		}
		if inClass {
			if c == ']' {
				inClass = false
			}
			continue
		}
		switch c {
		case '[':
			inClass = true
			// a `]` right after `[` or `[^` is literal
			if i+1 < len(re) && re[i+1] == '^' {
				i++
			}
			if i+1 < len(re) && re[i+1] == ']' {
				i++
			}
		case '(':
			rest := re[i:]
			for _, g := range pcreGroups {
				if strings.HasPrefix(rest, g.token) {
					return g, true
				}
			}
		case '*', '+', '?', '}':
			if i+1 < len(re) && re[i+1] == '+' {
				return pcreConstruct{re[i : i+2], "possessive quantifier"}, true
			}
		}
	}
	return pcreConstruct{}, false
}
