package expr

import (
	"math"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/sluicegw/sluice/plugin"
)

// Eval reports whether the request's variables satisfy the expression.
func (e *Expr) Eval(v plugin.Vars) bool {
	if e == nil {
		return true
	}
	return e.root.eval(v)
}

func (n *node) eval(v plugin.Vars) bool {
	if !n.group {
		return n.cond.eval(v) != n.not
	}
	switch n.logic {
	case logicAND:
		return n.all(v)
	case logicOR:
		return n.any(v)
	case logicNAND:
		return !n.all(v)
	default:
		return !n.any(v)
	}
}

func (n *node) all(v plugin.Vars) bool {
	for i := range n.kids {
		if !n.kids[i].eval(v) {
			return false
		}
	}
	return true
}

func (n *node) any(v plugin.Vars) bool {
	for i := range n.kids {
		if n.kids[i].eval(v) {
			return true
		}
	}
	return false
}

// eval is compare_val(ctx[var], op, value) before the `!` is applied.
func (c *cond) eval(v plugin.Vars) bool {
	var lv []byte
	ok := false
	if !c.noVar && v != nil {
		lv, ok = v.Lookup(&c.v)
	}
	switch c.op {
	case opEQ:
		return c.equal(lv, ok)
	case opNE:
		if c.rv == rvNumber {
			if !ok {
				return true
			}
			f, isNum := toNumber(lv)
			return !isNum || f != c.num
		}
		return !c.equal(lv, ok)
	case opGT, opGE, opLT, opLE:
		if !ok || !c.numOK {
			return false
		}
		f, isNum := toNumber(lv)
		if !isNum {
			return false
		}
		switch c.op {
		case opGT:
			return f > c.num
		case opGE:
			return f >= c.num
		case opLT:
			return f < c.num
		}
		return f <= c.num
	case opRegex:
		return ok && c.re.Match(lv)
	case opIn:
		if !ok {
			return false
		}
		for _, s := range c.in {
			if string(lv) == s {
				return true
			}
		}
		return false
	case opHas:
		return ok && c.rv == rvString && string(lv) == c.s
	case opIPMatch:
		if !ok || len(lv) == 0 {
			return false
		}
		a, err := netip.ParseAddr(unsafe.String(&lv[0], len(lv)))
		if err != nil {
			return false
		}
		for _, p := range c.nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return false
}

// equal is resty.expr's `==`: Lua equality of the variable (nil when absent) and the value,
// with the variable read as a number when the value is one.
func (c *cond) equal(lv []byte, ok bool) bool {
	switch c.rv {
	case rvNil:
		return !ok
	case rvString:
		return ok && string(lv) == c.s
	case rvNumber:
		if !ok {
			return false
		}
		f, isNum := toNumber(lv)
		return isNum && f == c.num
	}
	return false
}

// toNumber is LuaJIT's tonumber() on a string: surrounding whitespace, an optional sign,
// decimal (with fraction and exponent), hexadecimal (0x, with fraction and p exponent),
// inf/infinity/nan. It does not allocate for well-formed input.
func toNumber(b []byte) (float64, bool) {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	s := b[i:j]
	if len(s) == 0 {
		return 0, false
	}
	neg := false
	body := s
	if body[0] == '-' || body[0] == '+' {
		neg = body[0] == '-'
		body = body[1:]
	}
	if len(body) >= 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		f, ok := hexNumber(body[2:])
		if neg {
			f = -f
		}
		return f, ok
	}
	if special, f := specialNumber(body); special {
		if neg {
			f = -f
		}
		return f, true
	}
	if !decimalSyntax(body) {
		return 0, false
	}
	f, _ := strconv.ParseFloat(unsafe.String(&s[0], len(s)), 64) // out of range gives ±Inf, as Lua
	return f, true
}

func isSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

func specialNumber(b []byte) (bool, float64) {
	switch {
	case foldEqual(b, "inf"), foldEqual(b, "infinity"):
		return true, math.Inf(1)
	case foldEqual(b, "nan"):
		return true, math.NaN()
	}
	return false, 0
}

// foldEqual compares b with the lower-case ASCII word w, ignoring case.
func foldEqual(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range b {
		if b[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}

// decimalSyntax checks digits [. digits] [e [sign] digits], with at least one mantissa digit.
func decimalSyntax(b []byte) bool {
	i, digits := 0, 0
	for i < len(b) && isDigit(b[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && isDigit(b[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := 0
		for i < len(b) && isDigit(b[i]) {
			i, exp = i+1, exp+1
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexDigit(c byte) (float64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return float64(c - '0'), true
	case c >= 'a' && c <= 'f':
		return float64(c - 'a' + 10), true
	case c >= 'A' && c <= 'F':
		return float64(c - 'A' + 10), true
	}
	return 0, false
}

// hexNumber parses what follows "0x": hexdigits [. hexdigits] [p [sign] digits].
func hexNumber(b []byte) (float64, bool) {
	i, digits, scale := 0, 0, 0
	f := 0.0
	for ; i < len(b); i++ {
		d, ok := hexDigit(b[i])
		if !ok {
			break
		}
		f, digits = f*16+d, digits+1
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b); i++ {
			d, ok := hexDigit(b[i])
			if !ok {
				break
			}
			f, digits, scale = f*16+d, digits+1, scale-4
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(b) && (b[i] == 'p' || b[i] == 'P') {
		i++
		sign := 1
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			if b[i] == '-' {
				sign = -1
			}
			i++
		}
		exp, n := 0, 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			if exp < 100000 {
				exp = exp*10 + int(b[i]-'0')
			}
			n++
		}
		if n == 0 {
			return 0, false
		}
		scale += sign * exp
	}
	if i != len(b) {
		return 0, false
	}
	return math.Ldexp(f, scale), true
}
