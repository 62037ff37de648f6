package requestvalidation

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// This file is a copy of internal/model/jsonerr.go: the request's validation failures must be
// worded exactly as the Admin API's (both are api7/jsonschema's), and internal/model does not
// export its renderer. Drop the copy once model exports one.

// api7Message renders a santhosh-tekuri validation error the way api7/jsonschema (the
// validator APISIX uses) words it. api7's validator stops at the first failure, checking a
// schema's keywords in a fixed order (type, properties, required, dependencies,
// pattern/additionalProperties, min/maxProperties, array, string, number, enum, allOf, anyOf,
// oneOf, if/then/else, not, format, const), and chains nested failures as
// `property "a" validation failed: property "b" validation failed: ...`. The Go library
// reports every failure as a tree, so we pick the one api7 would have reported first.
func api7Message(err *jsonschema.ValidationError, doc map[string]any, inst any) string {
	x := explainer{doc: doc, inst: inst}
	return x.leaf(err)
}

type explainer struct {
	doc  map[string]any // the schema document, to read anyOf's required lists
	inst any            // the instance, to tell arrays from objects when a schema path is opaque
}

// fragmentTokens splits the JSON-pointer fragment of a schema location.
func fragmentTokens(loc string) []string {
	_, frag, ok := strings.Cut(loc, "#")
	if !ok || frag == "" || frag == "/" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(frag, "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
		p = strings.ReplaceAll(p, "~1", "/")
		parts[i] = strings.ReplaceAll(p, "~0", "~")
	}
	return parts
}

// relTokens returns the schema-path tokens of child below parent, nil when unrelated.
func relTokens(parent, child string) []string {
	p, c := fragmentTokens(parent), fragmentTokens(child)
	if len(c) < len(p) {
		return nil
	}
	for i := range p {
		if p[i] != c[i] {
			return nil
		}
	}
	return c[len(p):]
}

// walkJSON follows tokens (object keys, array indexes) down a decoded JSON value; nil when
// a token does not resolve.
func walkJSON(v any, tokens []string) any {
	cur := v
	for _, tok := range tokens {
		switch t := cur.(type) {
		case map[string]any:
			cur = t[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			cur = t[i]
		default:
			return nil
		}
	}
	return cur
}

// schemaNode resolves a schema location inside doc.
func (x *explainer) schemaNode(loc string) map[string]any {
	m, _ := walkJSON(x.doc, fragmentTokens(loc)).(map[string]any)
	return m
}

// step is one instance-consuming hop in a schema path.
type step struct {
	kind string // "property", "pattern", "additional", "item"
	pat  string
	end  int // index in the schema-path tokens just past this step
}

// schemaSteps extracts the instance-consuming keywords from schema-path tokens.
func schemaSteps(rel []string) []step {
	var out []step
	for i := 0; i < len(rel); i++ {
		switch rel[i] {
		case "properties":
			out = append(out, step{kind: "property", end: i + 2})
			i++
		case "patternProperties":
			if i+1 < len(rel) {
				out = append(out, step{kind: "pattern", pat: rel[i+1], end: i + 2})
			}
			i++
		case "additionalProperties":
			out = append(out, step{kind: "additional", end: i + 1})
		case "items":
			if i+1 < len(rel) {
				if _, err := strconv.Atoi(rel[i+1]); err == nil {
					i++
				}
			}
			out = append(out, step{kind: "item", end: i + 1})
		case "additionalItems":
			out = append(out, step{kind: "item", end: i + 1})
		case "allOf", "anyOf", "oneOf", "dependencies", "definitions", "$defs":
			i++
		}
	}
	return out
}

// instanceAt walks the instance along a location.
func (x *explainer) instanceAt(loc []string) any { return walkJSON(x.inst, loc) }

// chain renders e, reported below instance location loc and schema parent, with api7's
// per-hop prefixes.
func (x *explainer) chain(e *jsonschema.ValidationError, loc []string, parent string) string {
	hops := e.InstanceLocation[len(loc):]
	if len(hops) == 0 {
		return x.leaf(e)
	}
	rel := relTokens(parent, e.SchemaURL)
	steps := schemaSteps(rel)
	if len(steps) != len(hops) {
		steps = nil
	}
	var b strings.Builder
	for i, tok := range hops {
		st := step{kind: "property"}
		if steps != nil {
			st = steps[i]
		} else if _, isArr := x.instanceAt(e.InstanceLocation[:len(loc)+i]).([]any); isArr {
			st = step{kind: "item"}
		}
		switch st.kind {
		case "item":
			n, _ := strconv.Atoi(tok)
			fmt.Fprintf(&b, "failed to validate item %d: ", n+1)
		case "pattern":
			fmt.Fprintf(&b, "failed to validate %s (matching %s): ", tok, luaQuote(st.pat))
		case "additional":
			fmt.Fprintf(&b, "failed to validate additional property %s: ", tok)
		default:
			fmt.Fprintf(&b, "property %s validation failed: ", luaQuote(tok))
		}
	}
	if steps == nil {
		return b.String() + x.leaf(e)
	}
	// The schema that received the last hop, so a dependencies/then/else wrapper below it
	// is still named.
	sub := parent
	if !strings.Contains(sub, "#") {
		sub += "#"
	}
	for _, tok := range rel[:steps[len(steps)-1].end] {
		sub += "/" + escapePointer(tok)
	}
	return b.String() + x.render(e, sub)
}

// escapePointer escapes one JSON-pointer token as the library writes schema locations.
func escapePointer(tok string) string {
	tok = strings.ReplaceAll(tok, "~", "~0")
	return strings.ReplaceAll(tok, "/", "~1")
}

// rank orders the errors found at one schema the way api7 checks its keywords.
type rank struct {
	order int
	name  string
	index int
}

func (r rank) less(o rank) bool {
	if r.order != o.order {
		return r.order < o.order
	}
	if r.name != o.name {
		return r.name < o.name
	}
	return r.index < o.index
}

func (x *explainer) rankOf(e *jsonschema.ValidationError, loc []string, parent string) rank {
	rel := relTokens(parent, e.SchemaURL)
	if len(rel) > 0 {
		switch rel[0] {
		case "then", "else":
			return rank{order: 60}
		case "dependencies":
			if len(rel) > 1 {
				return rank{order: 10, name: rel[1] + "\x01"}
			}
		}
	}
	if len(e.InstanceLocation) > len(loc) {
		tok := e.InstanceLocation[len(loc)]
		steps := schemaSteps(rel)
		if len(steps) > 0 && (steps[0].kind == "pattern" || steps[0].kind == "additional") {
			return rank{order: 20, name: tok}
		}
		if _, isArr := x.instanceAt(loc).([]any); isArr {
			n, _ := strconv.Atoi(tok)
			return rank{order: 32, index: n}
		}
		return rank{order: 10, name: tok}
	}
	if k, ok := e.ErrorKind.(*kind.Required); ok {
		first := slices.Min(k.Missing)
		props, _ := x.schemaNode(e.SchemaURL)["properties"].(map[string]any)
		if _, declared := props[first]; declared {
			return rank{order: 10, name: first}
		}
		return rank{order: 11, name: first}
	}
	return rank{order: keywordOrder(e.ErrorKind)}
}

// keywordOrder is the position of a failed keyword in api7's checking order.
func keywordOrder(k jsonschema.ErrorKind) int {
	switch k.(type) {
	case *kind.Type:
		return 0
	case *kind.Dependency, *kind.DependentRequired:
		return 12
	case *kind.AdditionalProperties:
		return 20
	case *kind.MinProperties:
		return 21
	case *kind.MaxProperties:
		return 22
	case *kind.MinItems:
		return 30
	case *kind.MaxItems:
		return 31
	case *kind.AdditionalItems:
		return 33
	case *kind.UniqueItems:
		return 34
	case *kind.MinLength:
		return 40
	case *kind.MaxLength:
		return 41
	case *kind.Pattern:
		return 42
	case *kind.Minimum:
		return 43
	case *kind.ExclusiveMinimum:
		return 44
	case *kind.Maximum:
		return 45
	case *kind.ExclusiveMaximum:
		return 46
	case *kind.MultipleOf:
		return 47
	case *kind.Enum:
		return 50
	case *kind.AllOf:
		return 51
	case *kind.AnyOf:
		return 52
	case *kind.OneOf:
		return 53
	case *kind.Not:
		return 61
	case *kind.Format:
		return 62
	case *kind.Const:
		return 63
	}
	return 70
}

// pick renders the error api7 would report first among errs, all found by the schema at
// location parent applied to the instance at loc.
func (x *explainer) pick(errs []*jsonschema.ValidationError, loc []string, parent string) string {
	if len(errs) == 0 {
		return "validation failed"
	}
	best, bestRank := errs[0], x.rankOf(errs[0], loc, parent)
	for _, e := range errs[1:] {
		if r := x.rankOf(e, loc, parent); r.less(bestRank) {
			best, bestRank = e, r
		}
	}
	if rel := relTokens(parent, best.SchemaURL); len(best.InstanceLocation) == len(loc) ||
		(len(rel) > 0 && (rel[0] == "then" || rel[0] == "else")) {
		return x.render(best, parent)
	}
	return x.chain(best, loc, parent)
}

// render renders e, found at parent's own instance location, naming the then/else/
// dependencies keyword of parent it came through, as api7 does.
func (x *explainer) render(e *jsonschema.ValidationError, parent string) string {
	rel := relTokens(parent, e.SchemaURL)
	if len(rel) > 0 {
		switch rel[0] {
		case "then":
			return "then clause did not match"
		case "else":
			return "else clause did not match"
		case "dependencies":
			if len(rel) > 1 {
				return fmt.Sprintf("failed to validate dependent schema for %s: %s",
					luaQuote(rel[1]), x.leaf(e))
			}
		}
	}
	return x.leaf(e)
}

// leaf renders one error found at its own instance location.
func (x *explainer) leaf(e *jsonschema.ValidationError) string {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference:
		return x.pick(e.Causes, loc, e.SchemaURL)
	case *kind.Type:
		got := luaType(k.Got)
		if len(k.Want) == 1 {
			return fmt.Sprintf("wrong type: expected %s, got %s", k.Want[0], got)
		}
		return fmt.Sprintf("wrong type: expected one of %s, got %s", strings.Join(k.Want, ", "), got)
	case *kind.Required:
		return fmt.Sprintf("property %s is required", luaQuote(slices.Min(k.Missing)))
	case *kind.Dependency:
		return fmt.Sprintf("property %s is required when %s is set", luaQuote(k.Missing[0]), luaQuote(k.Prop))
	case *kind.DependentRequired:
		return fmt.Sprintf("property %s is required when %s is set", luaQuote(k.Missing[0]), luaQuote(k.Prop))
	case *kind.AdditionalProperties:
		return "additional properties forbidden, found " + slices.Min(k.Properties)
	case *kind.MinProperties:
		return fmt.Sprintf("expect object to have at least %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("expect object to have at most %d properties", k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("expect array to have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("expect array to have at most %d items", k.Want)
	case *kind.AdditionalItems:
		return "found unexpected extra items in array"
	case *kind.UniqueItems:
		return fmt.Sprintf("expected unique items but items %d and %d are equal", k.Duplicates[0]+1, k.Duplicates[1]+1)
	case *kind.MinLength:
		return fmt.Sprintf("string too short, expected at least %d, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("string too long, expected at most %d, got %d", k.Want, k.Got)
	case *kind.Pattern:
		return fmt.Sprintf("failed to match pattern %s with %s", luaQuote(k.Want), luaQuote(k.Got))
	case *kind.Minimum:
		return fmt.Sprintf("expected %s to be at least %s", luaRat(k.Got), luaRat(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("expected %s to be greater than %s", luaRat(k.Got), luaRat(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("expected %s to be at most %s", luaRat(k.Got), luaRat(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("expected %s to be smaller than %s", luaRat(k.Got), luaRat(k.Want))
	case *kind.MultipleOf:
		return fmt.Sprintf("expected %s to be a multiple of %s", luaRat(k.Got), luaRat(k.Want))
	case *kind.Enum:
		return "matches none of the enum values"
	case *kind.Const:
		return "failed to check const value"
	case *kind.AllOf:
		return x.allOfMessage(e)
	case *kind.AnyOf:
		return "object matches none of the required" + x.anyOfRequires(e.SchemaURL)
	case *kind.OneOf:
		if len(k.Subschemas) < 2 {
			return "value should match only one schema, but matches none"
		}
		return fmt.Sprintf("value should match only one schema, but matches both schemas %d and %d",
			k.Subschemas[0]+1, k.Subschemas[1]+1)
	case *kind.Not:
		return "value wasn't supposed to match schema"
	case *kind.Format:
		return formatMessage(k)
	case *kind.FalseSchema:
		return "expect false always"
	case *kind.Contains, *kind.MinContains, *kind.MaxContains:
		return "failed to check contains"
	}
	return e.Error()
}

// allOfMessage renders an allOf failure as api7 does: it stops at the first failing
// subschema and names it (1-based).
func (x *explainer) allOfMessage(e *jsonschema.ValidationError) string {
	var first *jsonschema.ValidationError
	firstIdx := -1
	for _, c := range e.Causes {
		rel := relTokens(e.SchemaURL, c.SchemaURL)
		if len(rel) < 2 || rel[0] != "allOf" {
			continue
		}
		if i, err := strconv.Atoi(rel[1]); err == nil && (firstIdx < 0 || i < firstIdx) {
			first, firstIdx = c, i
		}
	}
	if first == nil {
		return "allOf failed"
	}
	sub := e.SchemaURL + "/allOf/" + strconv.Itoa(firstIdx)
	if !strings.Contains(e.SchemaURL, "#") {
		sub = e.SchemaURL + "#/allOf/" + strconv.Itoa(firstIdx)
	}
	var inner string
	if len(first.InstanceLocation) == len(e.InstanceLocation) {
		inner = x.leafUnder(first, sub)
	} else {
		inner = x.chain(first, e.InstanceLocation, sub)
	}
	return fmt.Sprintf("allOf %d failed: %s", firstIdx+1, inner)
}

// formatMessage words a format failure as api7 does (it checks hostnames as ipv4).
func formatMessage(k *kind.Format) string {
	switch k.Want {
	case "ipv4", "hostname":
		return fmt.Sprintf("expect valid ipv4 address but got: %v", k.Got)
	case "ipv6":
		return fmt.Sprintf("expect valid ipv6 address but got: %v", k.Got)
	case "email":
		return fmt.Sprintf("expect valid email address but got: %v", k.Got)
	}
	return fmt.Sprintf("expect valid %s but got: %v", k.Want, k.Got)
}

// leafUnder renders a subschema's error that sits at the parent's own instance location;
// a Group is resolved against the subschema's location.
func (x *explainer) leafUnder(e *jsonschema.ValidationError, sub string) string {
	if _, ok := e.ErrorKind.(*kind.Group); ok {
		return x.pick(e.Causes, e.InstanceLocation, sub)
	}
	return x.leaf(e)
}

// anyOfRequires lists the `required` arrays of an anyOf's subschemas as api7 does:
// `: ["a","b"] or ["c"]`, or nothing when no subschema has one.
func (x *explainer) anyOfRequires(loc string) string {
	node := x.schemaNode(loc)
	subs, _ := node["anyOf"].([]any)
	var reqs []string
	for _, s := range subs {
		m, _ := s.(map[string]any)
		if r, ok := m["required"]; ok {
			b, _ := json.Marshal(r)
			reqs = append(reqs, string(b))
		}
	}
	if len(reqs) == 0 {
		return ""
	}
	return ": " + strings.Join(reqs, " or ")
}

// luaType names a JSON type the way Lua's type() does after cjson decoding.
func luaType(t string) string {
	switch t {
	case "integer", "number":
		return "number"
	case "object", "array":
		return "table"
	case "null":
		return "userdata"
	}
	return t
}

// luaRat formats a number like Lua's tostring (%.14g).
func luaRat(r *big.Rat) string {
	if r == nil {
		return "nil"
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// luaQuote quotes s like Lua's string.format("%q").
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString("\\\n")
		case c == '\r':
			b.WriteString("\\r")
		case c == 0:
			b.WriteString("\\0")
		case c < 32 || c == 127:
			fmt.Fprintf(&b, "\\%d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
