package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compiledSchema is a schema compiled once, with its source document kept for api7-style
// messages, default injection and the schema endpoints.
type compiledSchema struct {
	doc    map[string]any
	raw    json.RawMessage
	schema *jsonschema.Schema
}

// compileSchema compiles doc (a draft-07 schema) under a synthetic URL.
func compileSchema(url string, doc map[string]any) (*compiledSchema, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode schema %s: %w", url, err)
	}
	// The library wants numbers as json.Number, so decode its copy with its own decoder.
	res, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decode schema %s: %w", url, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(url, res); err != nil {
		return nil, fmt.Errorf("add schema %s: %w", url, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile schema %s: %w", url, err)
	}
	return &compiledSchema{doc: doc, raw: raw, schema: sch}, nil
}

// validate returns api7's message for the first failure, or "" when inst is valid.
func (cs *compiledSchema) validate(inst any) string {
	err := cs.schema.Validate(normalizeJSON(inst))
	if err == nil {
		return ""
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	return api7Message(verr, cs.doc, inst)
}

// normalizeJSON makes a decoded value acceptable to the validator: callers may hand us
// values built in Go (int, []string ...) rather than straight from encoding/json.
func normalizeJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if n := normalizeJSON(e); !sameScalar(n, e) {
				t[k] = n
			}
		}
		return t
	case []any:
		for i, e := range t {
			if n := normalizeJSON(e); !sameScalar(n, e) {
				t[i] = n
			}
		}
		return t
	case nil, bool, string, float64, json.Number:
		return v
	case int:
		return float64(t)
	case int64:
		return float64(t)
	default:
		// Anything else (typed slices, structs) goes through a JSON round trip.
		b, err := json.Marshal(v)
		if err != nil {
			return v
		}
		var out any
		if json.Unmarshal(b, &out) != nil {
			return v
		}
		return out
	}
}

func sameScalar(a, b any) bool {
	switch a.(type) {
	case map[string]any, []any:
		return true // containers are normalized in place
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}

// Schema is a JSON Schema compiled once whose failures read as APISIX's (api7/jsonschema's
// wording): what request-validation checks requests against, worded like the Admin API.
type Schema struct{ cs *compiledSchema }

// CompileSchema compiles doc (draft 7, formats asserted) under url.
func CompileSchema(url string, doc map[string]any) (*Schema, error) {
	cs, err := compileSchema(url, doc)
	if err != nil {
		return nil, err
	}
	return &Schema{cs: cs}, nil
}

// Check returns api7's message for the first failure of inst, "" when it is valid. inst must
// be as encoding/json decodes with UseNumber (or jsonschema.UnmarshalJSON): it is not
// normalized, so the request path pays no copy.
func (s *Schema) Check(inst any) string {
	err := s.cs.schema.Validate(inst)
	if err == nil {
		return ""
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	return api7Message(verr, s.cs.doc, inst)
}
