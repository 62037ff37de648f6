package model

import (
	"encoding/json"
	"testing"
)

// TestAPI7Messages checks each keyword's wording against api7/jsonschema's.
func TestAPI7Messages(t *testing.T) {
	tests := []struct {
		name, schema, inst, want string
	}{
		{"required", `{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`, `{}`,
			`property "id" is required`},
		{"required undeclared", `{"type":"object","required":["a"]}`, `{}`, `property "a" is required`},
		{"type", `{"type":"object","properties":{"uri":{"type":"string"}}}`, `{"uri":1}`,
			`property "uri" validation failed: wrong type: expected string, got number`},
		{"type table", `{"type":"object"}`, `[1]`, `wrong type: expected object, got table`},
		{"type integer", `{"type":"integer"}`, `1.5`, `wrong type: expected integer, got number`},
		{"enum", `{"type":"object","properties":{"methods":{"type":"array","items":{"enum":["GET"]}}}}`, `{"methods":["GET","x"]}`,
			`property "methods" validation failed: failed to validate item 2: matches none of the enum values`},
		{"minLength", `{"type":"string","minLength":2}`, `"a"`, `string too short, expected at least 2, got 1`},
		{"maxLength", `{"type":"object","properties":{"uri":{"type":"string","maxLength":3}}}`, `{"uri":"abcd"}`,
			`property "uri" validation failed: string too long, expected at most 3, got 4`},
		{"minimum", `{"type":"integer","minimum":1}`, `0`, `expected 0 to be at least 1`},
		{"maximum", `{"type":"number","maximum":1.5}`, `2`, `expected 2 to be at most 1.5`},
		{"exclusiveMinimum", `{"type":"number","exclusiveMinimum":0}`, `0`, `expected 0 to be greater than 0`},
		{"exclusiveMaximum", `{"type":"number","exclusiveMaximum":10}`, `10`, `expected 10 to be smaller than 10`},
		{"multipleOf", `{"type":"number","multipleOf":3}`, `4`, `expected 4 to be a multiple of 3`},
		{"pattern", `{"type":"string","pattern":"^[a-z]+$"}`, `"A\"b"`, `failed to match pattern "^[a-z]+$" with "A\"b"`},
		{"pattern backslash", `{"type":"string","pattern":"^\\S+$"}`, `"a b"`, `failed to match pattern "^\\S+$" with "a b"`},
		{"minItems", `{"type":"array","minItems":1}`, `[]`, `expect array to have at least 1 items`},
		{"maxItems", `{"type":"array","maxItems":1}`, `[1,2]`, `expect array to have at most 1 items`},
		{"uniqueItems", `{"type":"array","uniqueItems":true}`, `[1,2,1]`, `expected unique items but items 1 and 3 are equal`},
		{"additionalProperties", `{"type":"object","properties":{"a":{}},"additionalProperties":false}`, `{"a":1,"xxx":2}`,
			`additional properties forbidden, found xxx`},
		{"additionalProperties schema", `{"type":"object","additionalProperties":{"type":"string"}}`, `{"k":1}`,
			`failed to validate additional property k: wrong type: expected string, got number`},
		{"patternProperties", `{"type":"object","patternProperties":{".*":{"type":"integer"}}}`, `{"k":"x"}`,
			`failed to validate k (matching ".*"): wrong type: expected integer, got string`},
		{"minProperties", `{"type":"object","minProperties":1}`, `{}`, `expect object to have at least 1 properties`},
		{"maxProperties", `{"type":"object","maxProperties":1}`, `{"a":1,"b":2}`, `expect object to have at most 1 properties`},
		{"oneOf none", `{"oneOf":[{"required":["a"]},{"required":["b"]}]}`, `{}`,
			`value should match only one schema, but matches none`},
		{"oneOf both", `{"oneOf":[{"required":["a"]},{"required":["b"]}]}`, `{"a":1,"b":1}`,
			`value should match only one schema, but matches both schemas 1 and 2`},
		{"anyOf required", `{"anyOf":[{"required":["a"]},{"required":["a","b"]}]}`, `{}`,
			`object matches none of the required: ["a"] or ["a","b"]`},
		{"anyOf plain", `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `true`,
			`object matches none of the required`},
		{"allOf", `{"allOf":[{"type":"object"},{"required":["a"]}]}`, `{}`,
			`allOf 2 failed: property "a" is required`},
		{"not", `{"not":{"required":["a"]}}`, `{"a":1}`, `value wasn't supposed to match schema`},
		{"dependencies array", `{"type":"object","properties":{"name":{}},"dependencies":{"name":["conf"]}}`, `{"name":"x"}`,
			`property "conf" is required when "name" is set`},
		{"dependencies schema", `{"type":"object","dependencies":{"a":{"not":{"required":["b"]}}}}`, `{"a":1,"b":1}`,
			`failed to validate dependent schema for "a": value wasn't supposed to match schema`},
		{"then", `{"if":{"required":["a"]},"then":{"required":["b"]}}`, `{"a":1}`, `then clause did not match`},
		{"else", `{"if":{"required":["a"]},"else":{"required":["b"]}}`, `{}`, `else clause did not match`},
		{"const", `{"const":1}`, `2`, `failed to check const value`},
		{"format ipv4", `{"type":"string","format":"ipv4"}`, `"1.2.3"`, `expect valid ipv4 address but got: 1.2.3`},
		{"nested chain", `{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"array","items":{"type":"string"}}}}}}`,
			`{"a":{"b":["x",2]}}`,
			`property "a" validation failed: property "b" validation failed: failed to validate item 2: wrong type: expected string, got number`},
		{"type before properties", `{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}`, `{"a":1,"b":1}`,
			`property "a" validation failed: wrong type: expected string, got number`},
		{"properties before additional", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"a":1,"z":1}`,
			`property "a" validation failed: wrong type: expected string, got number`},
		{"properties before anyOf", `{"type":"object","properties":{"a":{"type":"string"}},"anyOf":[{"required":["b"]}]}`, `{"a":1}`,
			`property "a" validation failed: wrong type: expected string, got number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(tc.schema), &doc); err != nil {
				t.Fatal(err)
			}
			cs, err := compileSchema("sluice:///test/"+tc.name+".json", doc)
			if err != nil {
				t.Fatal(err)
			}
			var inst any
			if err := json.Unmarshal([]byte(tc.inst), &inst); err != nil {
				t.Fatal(err)
			}
			if got := cs.validate(inst); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAPI7MessageThenNested(t *testing.T) {
	var doc map[string]any
	_ = json.Unmarshal([]byte(`{"if":{"required":["a"]},"then":{"properties":{"b":{"type":"string"}}}}`), &doc)
	cs, err := compileSchema("sluice:///test/then-nested.json", doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.validate(map[string]any{"a": 1.0, "b": 1.0}); got != "then clause did not match" {
		t.Errorf("got %q", got)
	}
}
