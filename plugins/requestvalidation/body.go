package requestvalidation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// isForm reports a urlencoded body the way APISIX tells it: the Content-Type starts with
// application/x-www-form-urlencoded, in any case.
func isForm(ctype string) bool {
	const form = "application/x-www-form-urlencoded"
	return len(ctype) >= len(form) && strings.EqualFold(ctype[:len(form)], form)
}

// decodeForm decodes a urlencoded body as ngx.decode_args(body, 0) does: a repeated name
// becomes an array of its values, a name without '=' is true, an undecodable escape is kept
// as sent.
func decodeForm(body []byte) map[string]any {
	m := make(map[string]any)
	for part := range strings.SplitSeq(string(body), "&") {
		if part == "" {
			continue
		}
		k, val, hasEq := strings.Cut(part, "=")
		k = unescape(k)
		if k == "" {
			continue
		}
		var v any = true
		if hasEq {
			v = unescape(val)
		}
		switch prev := m[k].(type) {
		case nil:
			m[k] = v
		case []any:
			m[k] = append(prev, v)
		default:
			m[k] = []any{prev, v}
		}
	}
	return m
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// decodeJSON decodes body with numbers kept as written (json.Number) and, as lua-cjson does, a
// duplicated object key keeping its last value. A syntax error is worded as cjson words it.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	err := dec.Decode(&doc)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("trailing data")
		}
	}
	if err != nil {
		if msg := cjsonError(body); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, err
	}
	return doc, nil
}

// encodeJSON re-encodes a validated document for the upstream; like cjson it leaves <, >
// and & unescaped.
func encodeJSON(doc any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// cjson token kinds, named as lua-cjson names them in its errors.
const (
	tObjBegin = "T_OBJ_BEGIN"
	tObjEnd   = "T_OBJ_END"
	tArrBegin = "T_ARR_BEGIN"
	tArrEnd   = "T_ARR_END"
	tString   = "T_STRING"
	tNumber   = "T_NUMBER"
	tBoolean  = "T_BOOLEAN"
	tNull     = "T_NULL"
	tColon    = "T_COLON"
	tComma    = "T_COMMA"
	tEnd      = "T_END"
	tError    = "T_ERROR"
)

// cjsonMaxDepth is cjson's default decode_max_depth.
const cjsonMaxDepth = 1000

// cjsonScanner walks a body as lua-cjson's decoder does, only to word its first error.
type cjsonScanner struct {
	b     []byte
	pos   int
	depth int
}

type cjsonToken struct {
	kind  string
	index int    // offset of the token (of the error, for T_ERROR)
	err   string // T_ERROR's text
}

// cjsonError returns lua-cjson's message for body's first syntax error, "" when it has none
// (what cjson accepts and Go rejects, such as raw control characters in strings).
func cjsonError(body []byte) string {
	s := &cjsonScanner{b: body}
	msg := s.value(s.next())
	if msg != "" {
		return msg
	}
	if t := s.next(); t.kind != tEnd {
		return expected("the end", t)
	}
	return ""
}

func expected(what string, t cjsonToken) string {
	found := t.kind
	if t.kind == tError {
		found = t.err
	}
	return fmt.Sprintf("Expected %s but found %s at character %d", what, found, t.index+1)
}

func (s *cjsonScanner) value(t cjsonToken) string {
	switch t.kind {
	case tString, tNumber, tBoolean, tNull:
		return ""
	case tObjBegin:
		return s.object(t)
	case tArrBegin:
		return s.array(t)
	}
	return expected("value", t)
}

func (s *cjsonScanner) nest(t cjsonToken) string {
	s.depth++
	if s.depth > cjsonMaxDepth {
		return fmt.Sprintf("Found too many nested data structures (%d) at character %d", s.depth, t.index+1)
	}
	return ""
}

func (s *cjsonScanner) object(open cjsonToken) string {
	if msg := s.nest(open); msg != "" {
		return msg
	}
	t := s.next()
	if t.kind == tObjEnd {
		s.depth--
		return ""
	}
	for {
		if t.kind != tString {
			return expected("object key string", t)
		}
		if t = s.next(); t.kind != tColon {
			return expected("colon", t)
		}
		if msg := s.value(s.next()); msg != "" {
			return msg
		}
		t = s.next()
		if t.kind == tObjEnd {
			s.depth--
			return ""
		}
		if t.kind != tComma {
			return expected("comma or object end", t)
		}
		t = s.next()
	}
}

func (s *cjsonScanner) array(open cjsonToken) string {
	if msg := s.nest(open); msg != "" {
		return msg
	}
	t := s.next()
	if t.kind == tArrEnd {
		s.depth--
		return ""
	}
	for {
		if msg := s.value(t); msg != "" {
			return msg
		}
		t = s.next()
		if t.kind == tArrEnd {
			s.depth--
			return ""
		}
		if t.kind != tComma {
			return expected("comma or array end", t)
		}
		t = s.next()
	}
}

func (s *cjsonScanner) next() cjsonToken {
	for s.pos < len(s.b) && isSpace(s.b[s.pos]) {
		s.pos++
	}
	start := s.pos
	if s.pos >= len(s.b) {
		return cjsonToken{kind: tEnd, index: start}
	}
	c := s.b[s.pos]
	if k := punctuation(c); k != "" {
		s.pos++
		return cjsonToken{kind: k, index: start}
	}
	switch {
	case c == '"':
		return s.str()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	for _, lit := range []struct{ text, kind string }{{"true", tBoolean}, {"false", tBoolean}, {"null", tNull}} {
		if bytes.HasPrefix(s.b[s.pos:], []byte(lit.text)) {
			s.pos += len(lit.text)
			return cjsonToken{kind: lit.kind, index: start}
		}
	}
	return cjsonToken{kind: tError, index: start, err: "invalid token"}
}

func (s *cjsonScanner) str() cjsonToken {
	start := s.pos
	s.pos++ // the opening quote
	for {
		if s.pos >= len(s.b) || s.b[s.pos] == 0 {
			return cjsonToken{kind: tError, index: s.pos, err: "unexpected end of string"}
		}
		c := s.b[s.pos]
		if c == '"' {
			s.pos++
			return cjsonToken{kind: tString, index: start}
		}
		if c != '\\' {
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.b) {
			return cjsonToken{kind: tError, index: s.pos, err: "unexpected end of string"}
		}
		switch s.b[s.pos+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.pos += 2
		case 'u':
			if !isHex4(s.b[s.pos+2:]) {
				return cjsonToken{kind: tError, index: s.pos, err: "invalid unicode escape code"}
			}
			s.pos += 6
		default:
			return cjsonToken{kind: tError, index: s.pos, err: "invalid escape code"}
		}
	}
}

// number accepts what strtod would take of a JSON-looking number; anything else where a
// number starts is cjson's "invalid number".
func (s *cjsonScanner) number() cjsonToken {
	start := s.pos
	end := start
	for end < len(s.b) && strings.IndexByte("+-0123456789.eE", s.b[end]) >= 0 {
		end++
	}
	var n json.Number
	if json.Unmarshal(s.b[start:end], &n) != nil {
		return cjsonToken{kind: tError, index: start, err: "invalid number"}
	}
	s.pos = end
	return cjsonToken{kind: tNumber, index: start}
}

func punctuation(c byte) string {
	switch c {
	case '{':
		return tObjBegin
	case '}':
		return tObjEnd
	case '[':
		return tArrBegin
	case ']':
		return tArrEnd
	case ':':
		return tColon
	case ',':
		return tComma
	}
	return ""
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isHex4(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
