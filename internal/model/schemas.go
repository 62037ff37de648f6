package model

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

// The resource schemas are written as small JSON files sharing definitions through
// `{"$ref": "defs.json#/x"}` / `{"$ref": "upstream.json"}`; loadSchemaDoc inlines those
// references so every resource schema is one self-contained document, as APISIX's
// GET /apisix/admin/schema/<kind> shows it, and so error locations point into that document.
//
//go:embed schemas/*.json
var schemaFS embed.FS

// schemaFiles maps each resource kind to its schema file.
var schemaFiles = map[Kind]string{
	Routes:         "route.json",
	Services:       "service.json",
	Upstreams:      "upstream.json",
	Consumers:      "consumer.json",
	Credentials:    "credential.json",
	ConsumerGroups: "consumer_group.json",
	SSLs:           "ssl.json",
	GlobalRules:    "global_rule.json",
	PluginConfigs:  "plugin_config.json",
	StreamRoutes:   "stream_route.json",
	Protos:         "proto.json",
}

// secretSchemaFiles maps a secret manager (the first part of a secret id) to its schema.
var secretSchemaFiles = map[string]string{
	"vault": "secret_vault.json",
	"aws":   "secret_aws.json",
	"gcp":   "secret_gcp.json",
}

// loadSchemaDoc reads an embedded schema file and inlines its cross-file references.
func loadSchemaDoc(file string) (map[string]any, error) {
	raw, err := readSchemaFile(file)
	if err != nil {
		return nil, err
	}
	out, err := inlineRefs(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema %s: not an object", file)
	}
	return m, nil
}

func readSchemaFile(file string) (any, error) {
	b, err := schemaFS.ReadFile("schemas/" + file)
	if err != nil {
		return nil, fmt.Errorf("read schema %s: %w", file, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("parse schema %s: %w", file, err)
	}
	return v, nil
}

// inlineRefs replaces every `{"$ref": "<file>.json[#/<name>]"}` by a copy of its target.
func inlineRefs(v any, depth int) (any, error) {
	if depth > 16 {
		return nil, fmt.Errorf("schema references nest too deep")
	}
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok && len(t) == 1 && strings.Contains(ref, ".json") {
			file, ptr, _ := strings.Cut(ref, "#/")
			target, err := readSchemaFile(file)
			if err != nil {
				return nil, err
			}
			if ptr != "" {
				m, _ := target.(map[string]any)
				if target = m[ptr]; target == nil {
					return nil, fmt.Errorf("unresolved reference %q", ref)
				}
			}
			return inlineRefs(target, depth+1)
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := inlineRefs(e, depth)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := inlineRefs(e, depth)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// deepCopy copies decoded JSON so defaults and injected schema parts are never shared.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}
