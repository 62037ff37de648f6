package conf

import (
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder lays a yaml.Node tree over a Config that already holds the defaults: every key
// present in the file replaces the default at that key, lists replace whole lists (as APISIX's
// merge_conf does), and sections absent from the file keep their defaults.
type decoder struct{ *problems }

var extraType = reflect.TypeFor[map[string]any]()

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	switch path {
	case "apisix.node_listen", "apisix.ssl.listen":
		d.listens(n, path, v)
		return
	case "deployment.etcd.host":
		d.hosts(n, path, v)
		return
	}
	if isNull(n) {
		// An empty section (all its keys commented out) keeps its defaults; an empty value
		// elsewhere clears it, as a YAML null does in APISIX (allow_admin: ~ allows everyone).
		if v.Kind() != reflect.Struct {
			v.SetZero()
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, path, v)
	case reflect.Pointer:
		if v.IsNil() {
			if path == "apisix.status" {
				v.Set(reflect.ValueOf(defaultStatus()))
			} else {
				v.Set(reflect.New(v.Type().Elem()))
			}
		}
		d.decode(n, path, v.Elem())
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, index(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(path, "expected a mapping, got %s", describe(n))
			return
		}
		var raw map[string]any
		if err := n.Decode(&raw); err != nil {
			d.fail(path, "%v", err)
			return
		}
		base, _ := v.Interface().(map[string]any)
		v.Set(reflect.ValueOf(mergeRaw(base, raw)))
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			d.fail(path, "expected a boolean, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(path, "expected a boolean, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		var i int
		if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(path, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case reflect.String:
		// Numbers are taken as their text: an all-digit admin key or etcd password is common.
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float":
			v.SetString(n.Value)
		default:
			d.fail(path, "expected a string, got %s", describe(n))
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
	}
}

// mapping decodes a YAML mapping into a struct by yaml tags. Keys APISIX knows but Sluice does
// not implement yet go raw into the struct's Extra map; any other key is a warning, never fatal.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldIndex(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		kp := join(path, key)
		d.lines[kp] = k.Line
		if k.Kind != yaml.ScalarNode {
			d.fail(kp, "expected a string key, got %s", describe(k))
			continue
		}
		if seen[key] {
			d.warn(kp, "duplicate key (the last one wins)")
		}
		seen[key] = true
		if f, ok := fields[key]; ok {
			d.decode(val, kp, v.Field(f))
			continue
		}
		if laterKeys[path][key] {
			d.keepRaw(val, kp, key, v.FieldByName("Extra"))
			continue
		}
		d.warn(kp, unknownKeyMsg(kp))
	}
}

func (d *decoder) keepRaw(n *yaml.Node, path, key string, extra reflect.Value) {
	if !extra.IsValid() || extra.Type() != extraType {
		panic("conf: laterKeys names a key in " + path + " whose struct has no Extra map")
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.fail(path, "%v", err)
		return
	}
	if extra.IsNil() {
		extra.Set(reflect.MakeMap(extraType))
	}
	extra.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(&x).Elem())
}

// listens reads node_listen / ssl.listen: a port, or a list mixing ports and
// {ip, port, enable_http2 | enable_http3} objects.
func (d *decoder) listens(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	var items []*yaml.Node
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int":
		items = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		items = n.Content
	default:
		d.fail(path, "expected a port, a list of ports or a list of {ip, port} objects, got %s", describe(n))
		return
	}
	out := make([]Listen, len(items))
	for i, item := range items {
		ip := index(path, i)
		if _, ok := d.lines[ip]; !ok {
			d.lines[ip] = item.Line
		}
		lv := reflect.ValueOf(&out[i]).Elem()
		switch {
		case item.Kind == yaml.ScalarNode && item.ShortTag() == "!!int":
			d.decode(item, join(ip, "port"), lv.FieldByName("Port"))
		case item.Kind == yaml.MappingNode:
			d.mapping(item, ip, lv)
			if !hasKey(item, "port") {
				d.fail(ip, "missing port")
			}
			if path == "apisix.node_listen" && hasKey(item, "enable_http3") {
				d.warn(join(ip, "enable_http3"), "unknown key (HTTP/3 is set on apisix.ssl.listen entries)")
			}
		default:
			d.fail(ip, "expected a port or an {ip, port} object, got %s", describe(item))
		}
	}
	v.Set(reflect.ValueOf(out))
}

// hosts reads deployment.etcd.host: a list of URLs, or (leniently) a single URL.
func (d *decoder) hosts(n *yaml.Node, path string, v reflect.Value) {
	switch {
	case isNull(n):
		v.SetZero()
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		v.Set(reflect.ValueOf([]string{n.Value}))
	case n.Kind == yaml.SequenceNode:
		s := make([]string, len(n.Content))
		for i, c := range n.Content {
			d.decode(c, index(path, i), reflect.ValueOf(&s[i]).Elem())
		}
		v.Set(reflect.ValueOf(s))
	default:
		d.fail(path, "expected a URL or a list of URLs, got %s", describe(n))
	}
}

// fieldIndex maps yaml tag names to field indexes; fields tagged "-" or unexported are skipped.
func fieldIndex(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		m[name] = i
	}
	return m
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe renders a node for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!str":
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// mergeRaw merges src into a copy of dst key by key, recursing into nested mappings; a null in
// src removes the key, as in APISIX.
func mergeRaw(dst, src map[string]any) map[string]any {
	out := make(map[string]any, len(dst)+len(src))
	for k, v := range dst {
		out[k] = v
	}
	for k, v := range src {
		if v == nil {
			delete(out, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := out[k].(map[string]any)
		if sok && dok {
			out[k] = mergeRaw(dm, sm)
			continue
		}
		out[k] = v
	}
	return out
}
