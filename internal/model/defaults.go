package model

// injectDefaults fills the `default`s of schema into obj the way api7/jsonschema does while
// validating: a missing property with a default gets a copy of it, and present objects and
// arrays are descended into (also through anyOf/oneOf/allOf branches that accept the value).
// It runs only after obj validated, and only for resource schemas: APISIX stores plugin
// confs as written.
func injectDefaults(schema map[string]any, v any) {
	if schema == nil {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		if props, ok := schema["properties"].(map[string]any); ok {
			for name, ps := range props {
				sub, _ := ps.(map[string]any)
				if sub == nil {
					continue
				}
				if cur, present := t[name]; present {
					injectDefaults(sub, cur)
				} else if d, has := sub["default"]; has {
					t[name] = deepCopy(d)
				}
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for _, e := range t {
				injectDefaults(items, e)
			}
		}
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		subs, _ := schema[kw].([]any)
		for _, s := range subs {
			sub, _ := s.(map[string]any)
			if sub != nil && typeAccepts(sub, v) {
				injectDefaults(sub, v)
			}
		}
	}
}

// typeAccepts reports whether a branch's `type` admits v, so defaults of an object branch
// are not applied to an array (upstream `nodes` has both forms).
func typeAccepts(schema map[string]any, v any) bool {
	t, ok := schema["type"].(string)
	if !ok {
		return true
	}
	switch v.(type) {
	case map[string]any:
		return t == "object"
	case []any:
		return t == "array"
	}
	return true
}
