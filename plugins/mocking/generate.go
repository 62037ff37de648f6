package mocking

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sluicegw/sluice/internal/vartemplate"
)

type kind uint8

const (
	kindNone kind = iota // unknown or missing type: the value is absent (Lua nil)
	kindObject
	kindArray
	kindString
	kindNumber
	kindInteger
	kindBoolean
)

// gen is a response_schema node compiled once; generating a body walks it without reflection.
type gen struct {
	kind     kind
	props    []prop // objects, sorted by name
	items    *gen   // arrays; nil: the array is absent
	exString *string
	exNum    *float64
	exBool   *bool
}

type prop struct {
	name string
	g    *gen
}

func compileGen(raw map[string]any) *gen {
	g := &gen{}
	typ, _ := raw["type"].(string)
	switch strings.ToLower(typ) {
	case "object":
		g.kind = kindObject
		props, _ := raw["properties"].(map[string]any)
		for name, p := range props {
			pm, _ := p.(map[string]any)
			g.props = append(g.props, prop{name, compileGen(pm)})
		}
		sort.Slice(g.props, func(i, j int) bool { return g.props[i].name < g.props[j].name })
	case "array":
		g.kind = kindArray
		if items, ok := raw["items"].(map[string]any); ok {
			g.items = compileGen(items)
		}
	case "string":
		g.kind = kindString
	case "number":
		g.kind = kindNumber
	case "integer":
		g.kind = kindInteger
	case "boolean":
		g.kind = kindBoolean
	}
	switch ex := raw["example"].(type) {
	case string:
		g.exString = &ex
	case float64:
		g.exNum = &ex
	case bool:
		g.exBool = &ex
	}
	return g
}

// compileRoot is gen_object on the schema root, whatever its type says.
func compileRoot(schema json.RawMessage) (*gen, error) {
	var m map[string]any
	if err := json.Unmarshal(schema, &m); err != nil {
		return nil, err
	}
	g := compileGen(m)
	if g.kind != kindObject {
		g = &gen{kind: kindObject, props: compileGen(map[string]any{"type": "object",
			"properties": m["properties"]}).props}
	}
	return g, nil
}

// present reports whether the generated value exists (Lua non-nil).
func (g *gen) present() bool {
	return g.kind != kindNone && (g.kind != kindArray || g.items != nil)
}

// appendJSON generates a value and appends it as cjson encodes it (an empty table is "{}").
func (g *gen) appendJSON(dst []byte) []byte {
	switch g.kind {
	case kindObject:
		dst = append(dst, '{')
		first := true
		for _, p := range g.props {
			if !p.g.present() {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, p.name)
			dst = append(dst, ':')
			dst = p.g.appendJSON(dst)
		}
		return append(dst, '}')
	case kindArray:
		if !g.items.present() {
			return append(dst, "{}"...)
		}
		dst = append(dst, '[')
		for i := range rand.IntN(3) + 1 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = g.items.appendJSON(dst)
		}
		return append(dst, ']')
	case kindString:
		return appendJSONString(dst, g.genString())
	case kindBoolean:
		if g.genBool() {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	default:
		return append(dst, g.genNumber()...)
	}
}

func (g *gen) genString() string {
	if g.exString != nil {
		return *g.exString
	}
	var b [10]byte
	n := rand.IntN(10) + 1
	for i := range n {
		b[i] = byte('a' + rand.IntN(26))
	}
	return string(b[:n])
}

func (g *gen) genNumber() string {
	if g.kind == kindInteger {
		if g.exNum != nil {
			return vartemplate.LuaNumber(math.Floor(*g.exNum))
		}
		return vartemplate.LuaNumber(float64(rand.IntN(10000) + 1))
	}
	if g.exNum != nil {
		return vartemplate.LuaNumber(*g.exNum)
	}
	return vartemplate.LuaNumber(rand.Float64() * 10000)
}

func (g *gen) genBool() bool {
	if g.exBool != nil {
		return *g.exBool
	}
	return rand.IntN(2) == 1
}

// appendXML generates the value as xml2lua.toXml does: elements named after keys, array
// items repeated under their key.
func (g *gen) appendXML(dst []byte, name string, depth int) []byte {
	indent := func(d []byte) []byte { return append(d, strings.Repeat("  ", depth)...) }
	switch g.kind {
	case kindObject:
		dst = indent(dst)
		dst = append(append(append(dst, '<'), name...), ">\n"...)
		for _, p := range g.props {
			if p.g.present() {
				dst = p.g.appendXML(dst, p.name, depth+1)
			}
		}
		dst = indent(dst)
		return append(append(append(dst, "</"...), name...), ">\n"...)
	case kindArray:
		for range rand.IntN(3) + 1 {
			if g.items.present() {
				dst = g.items.appendXML(dst, name, depth)
			}
		}
		return dst
	}
	var v string
	switch g.kind {
	case kindString:
		v = xmlEscape(g.genString())
	case kindBoolean:
		v = "false"
		if g.genBool() {
			v = "true"
		}
	default:
		v = g.genNumber()
	}
	dst = indent(dst)
	return append(append(append(append(append(append(dst, '<'), name...), '>'), v...), "</"...), name+">\n"...)
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// appendJSONString escapes like cjson (with APISIX's patch that leaves '/' alone).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf || (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			dst = append(dst, c)
			i++
			continue
		}
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		default:
			dst = append(dst, `\u00`...)
			dst = append(dst, hex[c>>4], hex[c&15])
		}
		i++
	}
	return append(dst, '"')
}
