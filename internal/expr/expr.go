// Package expr evaluates APISIX's lua-resty-expr expressions (route `vars`, `_meta.filter`,
// plugin `*_expr` and `match` rules) against a request's variables. Expressions are compiled
// once (variables parsed to handles, regexps compiled) and evaluated without allocating.
//
// Semantics follow resty.expr.v1: a missing variable is Lua nil, so `==` is false (unless the
// right side is null), `~=` true, and every other operator false; `==`/`~=` against a number
// compare tonumber(left); `>` `>=` `<` `<=` coerce both sides and are false when either is not
// a number; `in` compares the left string with the array's string elements (Lua equality, so
// "1" is not 1). Sluice's Vars yield strings, so `has` treats a present value as a
// one-element array.
package expr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// Expr is a compiled expression; the zero value and nil are "always true".
type Expr struct {
	root node
	uses uint64 // bit per plugin.VarKind the expression reads
}

type logicOp uint8

const (
	logicAND logicOp = iota
	logicOR
	logicNAND
	logicNOR
)

type op uint8

const (
	opEQ op = iota
	opNE
	opGT
	opGE
	opLT
	opLE
	opRegex
	opIn
	opHas
	opIPMatch
)

var ops = map[string]op{
	"==": opEQ, "~=": opNE, ">": opGT, ">=": opGE, "<": opLT, "<=": opLE,
	"~~": opRegex, "~*": opRegex, "in": opIn, "has": opHas, "ipmatch": opIPMatch,
}

var logicOps = map[string]logicOp{"AND": logicAND, "OR": logicOR, "!AND": logicNAND, "!OR": logicNOR}

// rvKind is the Lua type of a condition's right side.
type rvKind uint8

const (
	rvNil rvKind = iota
	rvString
	rvNumber
	rvOther // boolean, array, object: never equal to a variable's string
)

// node is a group of sub-rules (group true) or one condition.
type node struct {
	group bool
	logic logicOp
	kids  []node
	cond
}

// cond is `[var, op, value]` or `[var, "!", op, value]`.
type cond struct {
	v       plugin.Var
	noVar   bool // the left side is not a string: Lua reads ctx[non-string] as nil
	op      op
	not     bool
	rv      rvKind
	s       string  // rv as a string (rvString)
	num     float64 // rv as a number: the number itself, or tonumber(string)
	numOK   bool
	re      *regexp.Regexp
	in      []string // the string elements of `in`'s array
	nets    []netip.Prefix
	inArray bool // `in` got an array (otherwise it is always false)
}

// Compile compiles a decoded JSON rule ([]any as encoding/json produces it). An empty rule
// compiles to nil, which matches everything.
func Compile(rule any) (*Expr, error) {
	if rule == nil {
		return nil, nil
	}
	rules, ok := rule.([]any)
	if !ok {
		return nil, errors.New("rule should be wrapped inside brackets")
	}
	if len(rules) == 0 {
		return nil, nil
	}
	if _, isList := rules[0].([]any); !isList {
		if _, isLogic := logicOps[upperName(rules[0])]; !isLogic {
			return nil, errors.New("rule should be wrapped inside brackets")
		}
	}
	e := &Expr{}
	if err := e.compile(rules, &e.root, 0); err != nil {
		return nil, err
	}
	return e, nil
}

// MustCompile is Compile for tests and constant rules; it panics on error.
func MustCompile(rule any) *Expr {
	e, err := Compile(rule)
	if err != nil {
		panic(err)
	}
	return e
}

// Uses reports whether the expression reads a variable of kind k (the router uses it to
// decide whether `uri_param_*` must be answered during matching).
func (e *Expr) Uses(k plugin.VarKind) bool {
	return e != nil && k < 64 && e.uses&(1<<k) != 0
}

// upperName is Lua's string.upper for the first element of a rule: strings and numbers only.
func upperName(v any) string {
	if s, ok := luaString(v); ok {
		return strings.ToUpper(s)
	}
	return ""
}

// luaString converts v as Lua's string functions do: strings as they are, numbers by
// tostring ("%.14g").
func luaString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64, int, int64, json.Number:
		f, _ := number(t)
		return strconv.FormatFloat(f, 'g', 14, 64), true
	}
	return "", false
}

// number returns v as a float64 when it is a JSON number.
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

const maxDepth = 32

// compile is resty.expr.v1's compile(): a list of rules (AND), a logic group, or a condition.
func (e *Expr) compile(rules []any, n *node, depth int) error {
	if depth > maxDepth {
		return errors.New("rule nests too deep")
	}
	if len(rules) == 0 {
		return errors.New("rule too short")
	}
	if _, isList := rules[0].([]any); isList {
		n.group, n.logic = true, logicAND
		return e.compileKids(rules, n, depth)
	}
	if lop, ok := logicOps[upperName(rules[0])]; ok {
		if len(rules) <= 2 {
			return errors.New("rule too short")
		}
		n.group, n.logic = true, lop
		return e.compileKids(rules[1:], n, depth)
	}
	return e.compileCond(rules, &n.cond)
}

func (e *Expr) compileKids(rules []any, n *node, depth int) error {
	n.kids = make([]node, len(rules))
	for i, r := range rules {
		sub, ok := r.([]any)
		if !ok {
			return errors.New("rule should be wrapped inside brackets")
		}
		if err := e.compile(sub, &n.kids[i], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// compileCond is resty.expr.v1's compile_expr().
func (e *Expr) compileCond(expr []any, c *cond) error {
	var lv, rawOp, rv any
	hasRV := false
	if len(expr) == 4 {
		if s, _ := expr[1].(string); s != "!" {
			return errors.New("bad 'not' expression")
		}
		c.not = true
		lv, rawOp, rv, hasRV = expr[0], expr[2], expr[3], true
	} else {
		lv = expr[0]
		if len(expr) > 1 {
			rawOp = expr[1]
		}
		if len(expr) > 2 {
			rv, hasRV = expr[2], true
		}
	}
	if len(expr) > 1 && rawOp == nil {
		return errors.New("invalid expression")
	}
	var opName string
	if rawOp != nil {
		s, ok := luaString(rawOp)
		if !ok {
			return errors.New("invalid expression")
		}
		opName = strings.ToLower(s)
	}
	if _, known := ops[opName]; !hasRV && !known {
		// `[var, value]` means `==`; resty.expr lower-cases the value on the way, so do we.
		if rawOp == nil {
			return errors.New("invalid expression")
		}
		rv, opName = opName, "=="
	}
	o, known := ops[opName]
	if !known {
		return fmt.Errorf("invalid operator '%s'", opName)
	}
	c.op = o
	if name, ok := lv.(string); ok {
		c.v = plugin.ParseVar(name)
		if k := c.v.Kind; k < 64 {
			e.uses |= 1 << k
		}
	} else {
		c.noVar = true // JSON null or a number: ctx[that] is nil in Lua
	}
	return c.setRight(opName, rv)
}

// setRight prepares the right side for op once, so Eval only compares.
func (c *cond) setRight(opName string, rv any) error {
	switch t := rv.(type) {
	case nil:
		c.rv = rvNil
	case string:
		c.rv, c.s = rvString, t
		c.num, c.numOK = toNumber([]byte(t))
	default:
		if f, ok := number(t); ok {
			c.rv, c.num, c.numOK = rvNumber, f, true
		} else {
			c.rv = rvOther
		}
	}
	switch c.op {
	case opRegex:
		if c.rv != rvString {
			return fmt.Errorf("invalid regex: %v", rv)
		}
		src := c.s
		if opName == "~*" {
			src = "(?i)" + src
		}
		if err := model.CheckRegex(src); err != nil {
			return err
		}
		c.re = regexp.MustCompile(src)
	case opIn:
		list, ok := rv.([]any)
		c.inArray = ok
		for _, v := range list {
			if s, ok := v.(string); ok {
				c.in = append(c.in, s)
			}
		}
	case opIPMatch:
		nets, err := parseIPList(rv)
		if err != nil {
			return err
		}
		c.nets = nets
	}
	return nil
}

// parseIPList reads ipmatch's right side: an IP or CIDR, or a non-empty list of them.
func parseIPList(rv any) ([]netip.Prefix, error) {
	var items []any
	switch t := rv.(type) {
	case string:
		if t == "" {
			return nil, errors.New("invalid ip address")
		}
		items = []any{t}
	case []any:
		if len(t) == 0 {
			return nil, errors.New("invalid ip address")
		}
		items = t
	default:
		return nil, errors.New("invalid ip address")
	}
	nets := make([]netip.Prefix, 0, len(items))
	for _, it := range items {
		s, _ := it.(string)
		p, err := parsePrefix(s)
		if err != nil {
			txt, _ := luaString(it)
			return nil, fmt.Errorf("invalid ip address: %s", txt)
		}
		nets = append(nets, p)
	}
	return nets, nil
}

// parsePrefix parses an IP (as a full-length prefix) or a CIDR, host bits masked off.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
