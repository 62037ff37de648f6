package csrf

import (
	"encoding/json"
	"strconv"
)

// A token is decoded by hand rather than with encoding/json so that verifying it on the
// request path neither reflects nor allocates; only the three fields APISIX reads are kept.

type valKind uint8

const (
	valAbsent valKind = iota
	valNumber
	valString
	valOther // true, false, null, object, array
)

type value struct {
	kind valKind
	raw  []byte // a string's unescaped bytes, a number's text
	num  float64
}

// number is the value as Lua arithmetic sees it: a number, or a string that converts to one.
func (v *value) number() (float64, bool) {
	switch v.kind {
	case valNumber:
		return v.num, true
	case valString:
		f, err := strconv.ParseFloat(string(v.raw), 64)
		return f, err == nil
	}
	return 0, false
}

// text is the value as Lua's `..` renders it: a number with %.14g, a string verbatim.
func (v *value) text(dst []byte) []byte {
	if v.kind == valNumber {
		return appendNumber(dst, v.num)
	}
	return append(dst, v.raw...)
}

type fields struct{ random, expires, sign value }

// parseFields reads a JSON object, keeping random, expires and sign (the last duplicate wins,
// as with cjson). ok is false unless js is exactly one well-formed JSON object.
func parseFields(js []byte) (f fields, ok bool) {
	p := parser{b: js}
	p.ws()
	if !p.eat('{') {
		return f, false
	}
	p.ws()
	if !p.eat('}') {
		for {
			p.ws()
			key, ok := p.str()
			if !ok {
				return f, false
			}
			p.ws()
			if !p.eat(':') {
				return f, false
			}
			p.ws()
			v, ok := p.value()
			if !ok {
				return f, false
			}
			switch string(key) {
			case "random":
				f.random = v
			case "expires":
				f.expires = v
			case "sign":
				f.sign = v
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			if !p.eat('}') {
				return f, false
			}
			break
		}
	}
	p.ws()
	return f, p.i == len(p.b)
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a JSON string; escapes (never in tokens Sluice or APISIX issue) are decoded with
// encoding/json on this rare path.
func (p *parser) str() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start, escaped := p.i, false
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '\\':
			escaped = true
			p.i += 2
			continue
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !escaped {
				return s, true
			}
			var out string // copy first: handing p.b to encoding/json would move it to the heap
			if json.Unmarshal(append([]byte(nil), p.b[start-1:p.i]...), &out) != nil {
				return nil, false
			}
			return []byte(out), true
		case c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

func (p *parser) value() (value, bool) {
	if p.i >= len(p.b) {
		return value{}, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		return value{kind: valString, raw: s}, ok
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		for p.i < len(p.b) && isNumByte(p.b[p.i]) {
			p.i++
		}
		text := p.b[start:p.i]
		if !json.Valid(text) {
			return value{}, false
		}
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return value{}, false
		}
		return value{kind: valNumber, raw: text, num: f}, true
	case c == '{' || c == '[':
		return value{kind: valOther}, p.skipNested()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
			p.i += len(lit)
			return value{kind: valOther}, true
		}
	}
	return value{}, false
}

func isNumByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// skipNested skips an object or array; encoding/json checks it is well-formed.
func (p *parser) skipNested() bool {
	start, depth := p.i, 0
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			if _, ok := p.str(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				return json.Valid(p.b[start:p.i])
			}
		}
		p.i++
	}
	return false
}
