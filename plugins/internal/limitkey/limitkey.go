// Package limitkey renders the keys of APISIX's limit plugins (limit-req, limit-conn) and the
// conf version their counters are named by.
package limitkey

import (
	"hash/crc32"
	"strconv"
	"sync"
	"unsafe"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

// Source renders the raw limit key as APISIX's limit plugins do: key_type var reads one
// variable, var_combination renders `key` as a template (nothing resolved → no key); no key
// falls back to $remote_addr.
type Source struct {
	v    plugin.Var
	tmpl *vartemplate.Template // var_combination
}

var remoteAddr = plugin.ParseVar("remote_addr")

// New compiles key_type and key.
func New(keyType, key string) Source {
	if keyType == "var_combination" {
		return Source{tmpl: vartemplate.Compile(key)}
	}
	return Source{v: plugin.ParseVar(key)}
}

// AppendRaw appends the raw key of the request to dst.
func (k *Source) AppendRaw(dst []byte, c plugin.Vars) []byte {
	if k.tmpl != nil {
		out, n := k.tmpl.Append(dst, c)
		if n > 0 {
			return out
		}
	} else if val, ok := c.Lookup(&k.v); ok {
		return append(dst, val...)
	}
	val, _ := c.Lookup(&remoteAddr)
	return append(dst, val...)
}

// ConfVersion is APISIX's conf version for a plugin conf: a crc32 of the conf, so any change
// of the conf starts new counters while an unchanged conf keeps them across reloads.
func ConfVersion(raw []byte) string {
	return strconv.FormatUint(uint64(crc32.ChecksumIEEE(raw)), 10)
}

// View reads b as a string without copying, for map lookups that do not keep it.
func View(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Bufs holds the buffers keys are rendered into; a stack array would escape through the
// Vars interface, so a pool keeps the request path free of allocations.
var Bufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}
