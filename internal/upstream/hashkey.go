package upstream

import (
	"fmt"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// hashPart is one piece of a chash upstream's key: a literal, or a variable.
type hashPart struct {
	lit   string
	v     plugin.Var
	isVar bool
}

var remoteAddrVar = plugin.ParseVar("remote_addr")

// compileHashKey turns hash_on/key into parts (APISIX balancer.fetch_chash_hash_key): vars (the
// default) reads the variable named key, header and cookie the request's, consumer the
// consumer's name, vars_combinations a template such as "$request_uri$remote_addr".
func compileHashKey(spec *model.Upstream) ([]hashPart, error) {
	key := spec.Key
	switch spec.HashOn {
	case "", "vars":
		return []hashPart{{v: plugin.ParseVar(key), isVar: true}}, nil
	case "header":
		return []hashPart{{v: plugin.ParseVar("http_" + key), isVar: true}}, nil
	case "cookie":
		return []hashPart{{v: plugin.ParseVar("cookie_" + key), isVar: true}}, nil
	case "consumer":
		return []hashPart{{v: plugin.ParseVar("consumer_name"), isVar: true}}, nil
	case "vars_combinations":
		return parseTemplate(key), nil
	}
	return nil, fmt.Errorf("hash_on %q is not vars, header, cookie, consumer or vars_combinations", spec.HashOn)
}

// parseTemplate splits "$a${b}-x" into variables and literals.
func parseTemplate(s string) []hashPart {
	var parts []hashPart
	lit := ""
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 >= len(s) {
			lit += s[i : i+1]
			i++
			continue
		}
		var name string
		j := i + 1
		if s[j] == '{' {
			end := j + 1
			for end < len(s) && s[end] != '}' {
				end++
			}
			if end == len(s) {
				lit += s[i:]
				break
			}
			name, j = s[j+1:end], end+1
		} else {
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
		}
		if name == "" {
			lit += "$"
			i++
			continue
		}
		if lit != "" {
			parts = append(parts, hashPart{lit: lit})
			lit = ""
		}
		parts = append(parts, hashPart{v: plugin.ParseVar(name), isVar: true})
		i = j
	}
	if lit != "" {
		parts = append(parts, hashPart{lit: lit})
	}
	return parts
}

// CHash reports a chash upstream: the caller sets Attempt.HashKey (AppendHashKey) before Pick.
func (u *Upstream) CHash() bool { return u.kind == kindCHash }

// AppendHashKey appends the request's hash key to dst: the hash_on/key value from vars, or
// $remote_addr when it has none, as APISIX falls back: the variable is absent (a present empty
// header still counts), or a vars_combinations template resolved none of its variables.
func (u *Upstream) AppendHashKey(dst []byte, vars plugin.Vars) []byte {
	start, resolved := len(dst), 0
	for i := range u.hash {
		p := &u.hash[i]
		if !p.isVar {
			dst = append(dst, p.lit...)
			continue
		}
		if v, ok := vars.Lookup(&p.v); ok {
			dst = append(dst, v...)
			resolved++
		}
	}
	if resolved == 0 {
		dst = dst[:start]
		if v, ok := vars.Lookup(&remoteAddrVar); ok {
			dst = append(dst, v...)
		}
	}
	return dst
}
