package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
)

// compareOps are lua-resty-expr's operators.
var compareOps = map[string]bool{
	"==": true, "~=": true, ">": true, ">=": true, "<": true, "<=": true,
	"~~": true, "~*": true, "in": true, "has": true, "ipmatch": true,
}

// logicOps may open a rule and combine the rules that follow.
var logicOps = map[string]bool{"AND": true, "OR": true, "!AND": true, "!OR": true}

// CheckExpr validates a lua-resty-expr rule (route `vars`, `_meta.filter`, plugin `*_expr`)
// the way resty.expr.v1's new() does, with its error texts. Regular expressions of `~~` and
// `~*` must compile as RE2: PCRE-only constructs are rejected naming the construct.
func CheckExpr(rule any) error {
	rules, ok := rule.([]any)
	if !ok {
		return errors.New("rule should be wrapped inside brackets")
	}
	return checkRules(rules, 0)
}

func checkRules(rules []any, depth int) error {
	if depth > 32 {
		return errors.New("rule nests too deep")
	}
	start := 0
	if len(rules) > 0 {
		if op, ok := rules[0].(string); ok && logicOps[op] {
			start = 1
		}
	}
	for _, r := range rules[start:] {
		expr, ok := r.([]any)
		if !ok {
			return errors.New("rule should be wrapped inside brackets")
		}
		if isNestedRule(expr) {
			if err := checkRules(expr, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := checkCondition(expr); err != nil {
			return err
		}
	}
	return nil
}

// isNestedRule tells a nested rule (`["OR", [...], [...]]` or `[[...], [...]]`) from a
// condition (`["arg_x", "==", "1"]`).
func isNestedRule(expr []any) bool {
	if len(expr) == 0 {
		return false
	}
	if _, ok := expr[0].([]any); ok {
		return true
	}
	op, ok := expr[0].(string)
	return ok && logicOps[op]
}

// checkCondition validates `[var, op, value]`, `[var, "!", op, value]` or `[var, value]`.
func checkCondition(expr []any) error {
	var lv, op, rv any
	switch len(expr) {
	case 4:
		if s, _ := expr[1].(string); s != "!" {
			return errors.New("bad 'not' expression")
		}
		lv, op, rv = expr[0], expr[2], expr[3]
	case 3:
		lv, op, rv = expr[0], expr[1], expr[2]
	case 2:
		lv, op, rv = expr[0], "==", expr[1]
	default:
		return errors.New("invalid expression")
	}
	if lv == nil || op == nil {
		return errors.New("invalid expression")
	}
	ops, ok := op.(string)
	if !ok || !compareOps[ops] {
		return fmt.Errorf("invalid operator '%s'", exprText(op))
	}
	switch ops {
	case "~~", "~*":
		re, ok := rv.(string)
		if !ok {
			return fmt.Errorf("invalid regex: %s", exprText(rv))
		}
		if ops == "~*" {
			re = "(?i)" + re
		}
		if err := CheckRegex(re); err != nil {
			return err
		}
	case "in", "has":
		if ops == "in" {
			if _, ok := rv.([]any); !ok {
				return fmt.Errorf("invalid operand of 'in': %s should be an array", exprText(rv))
			}
		}
	case "ipmatch":
		return checkIPList(rv)
	}
	return nil
}

// checkIPList validates ipmatch's right side: an IP/CIDR or a list of them.
func checkIPList(rv any) error {
	var ips []any
	switch t := rv.(type) {
	case string:
		ips = []any{t}
	case []any:
		ips = t
	default:
		return fmt.Errorf("failed to create ip matcher: invalid ip address: %s", exprText(rv))
	}
	for _, v := range ips {
		s, _ := v.(string)
		if !validIPOrCIDR(s) {
			return fmt.Errorf("failed to create ip matcher: invalid ip address: %s", exprText(v))
		}
	}
	return nil
}

func validIPOrCIDR(s string) bool {
	if strings.Contains(s, "/") {
		_, _, err := net.ParseCIDR(s)
		return err == nil
	}
	return net.ParseIP(s) != nil
}

// exprText shows a value in an error: strings bare, the rest as JSON.
func exprText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
