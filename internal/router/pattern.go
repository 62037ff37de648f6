package router

import (
	"bytes"
	"strings"
)

type tokKind uint8

const (
	tokLit   tokKind = iota // literal text, separators included
	tokParam                // :name — one non-empty segment
	tokWild                 // *name — the rest, slashes included, possibly empty
)

type token struct {
	kind tokKind
	text string // literal text, or the capture name ("" for a bare `*`: not captured)
}

// pattern is a uri with `:name` / `*name` segments, matched against the whole request path
// (lua-resty-radixtree's fetch_pat + compare_param, without PCRE).
type pattern struct {
	toks []token
}

// compilePattern splits path on '/' as radixtree does: a segment starting with ':' is a
// parameter, one starting with '*' a wildcard, anything else literal. It returns nil when the
// path has neither, in which case radixtree treats the route as a plain prefix.
func compilePattern(path string) *pattern {
	var p pattern
	var lit strings.Builder
	named := false
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			lit.WriteByte('/')
		}
		if seg == "" || (seg[0] != ':' && seg[0] != '*') {
			lit.WriteString(seg)
			continue
		}
		if lit.Len() > 0 {
			p.toks = append(p.toks, token{kind: tokLit, text: lit.String()})
			lit.Reset()
		}
		named = true
		if seg[0] == ':' {
			p.toks = append(p.toks, token{kind: tokParam, text: seg[1:]})
		} else {
			p.toks = append(p.toks, token{kind: tokWild, text: seg[1:]})
		}
	}
	if !named {
		return nil
	}
	if lit.Len() > 0 {
		p.toks = append(p.toks, token{kind: tokLit, text: lit.String()})
	}
	return &p
}

// match reports whether the whole path matches, appending captures to ps (which may be nil).
// On failure ps is left as it was.
func (p *pattern) match(path []byte, ps *Params) bool {
	mark := ps.len()
	if matchTokens(p.toks, path, ps) {
		return true
	}
	ps.truncate(mark)
	return false
}

func matchTokens(toks []token, s []byte, ps *Params) bool {
	for i, t := range toks {
		switch t.kind {
		case tokLit:
			if len(s) < len(t.text) || string(s[:len(t.text)]) != t.text {
				return false
			}
			s = s[len(t.text):]
		case tokParam:
			n := bytes.IndexByte(s, '/')
			if n < 0 {
				n = len(s)
			}
			if n == 0 {
				return false
			}
			ps.add(t.text, s[:n])
			s = s[n:]
		case tokWild:
			rest := toks[i+1:]
			if len(rest) == 0 {
				ps.add(t.text, s)
				return true
			}
			// greedy, as PCRE's ((.|\n)*): the longest tail that lets the rest match
			mark := ps.len()
			for n := len(s); n >= 0; n-- {
				ps.add(t.text, s[:n])
				if matchTokens(rest, s[n:], ps) {
					return true
				}
				ps.truncate(mark)
			}
			return false
		}
	}
	return len(s) == 0
}
