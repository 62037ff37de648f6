package upstream

import (
	"fmt"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

var remoteAddrVar = plugin.ParseVar("remote_addr")

// compileHashKey turns hash_on/key into a template (APISIX balancer.fetch_chash_hash_key): vars
// (the default) reads the variable named key, header and cookie the request's, consumer the
// consumer's name, vars_combinations is itself a template such as "$request_uri$remote_addr".
func compileHashKey(spec *model.Upstream) (*vartemplate.Template, error) {
	key := spec.Key
	switch spec.HashOn {
	case "", "vars":
		return vartemplate.Compile("${" + key + "}"), nil
	case "header":
		return vartemplate.Compile("${http_" + key + "}"), nil
	case "cookie":
		return vartemplate.Compile("${cookie_" + key + "}"), nil
	case "consumer":
		return vartemplate.Compile("${consumer_name}"), nil
	case "vars_combinations":
		return vartemplate.Compile(key), nil
	}
	return nil, fmt.Errorf("hash_on %q is not vars, header, cookie, consumer or vars_combinations", spec.HashOn)
}

// CHash reports a chash upstream: the caller sets Attempt.HashKey (AppendHashKey) before Pick.
func (u *Upstream) CHash() bool { return u.kind == kindCHash }

// AppendHashKey appends the request's hash key to dst: the hash_on/key value from vars, or
// $remote_addr when it has none, as APISIX falls back: the variable is absent (a present empty
// header still counts), or a vars_combinations template resolved none of its variables.
func (u *Upstream) AppendHashKey(dst []byte, vars plugin.Vars) []byte {
	start := len(dst)
	dst, resolved := u.hash.Append(dst, vars)
	if resolved == 0 {
		dst = dst[:start]
		if v, ok := vars.Lookup(&remoteAddrVar); ok {
			dst = append(dst, v...)
		}
	}
	return dst
}
