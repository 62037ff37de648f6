package conf

import (
	"errors"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// envRef matches ${{VAR}} and ${{VAR:=default}}, the forms apisix/cli/file.lua resolves; the
// double braces leave nginx's $var and ${var} alone.
var envRef = regexp.MustCompile(`\$\{\{\s*(\w+)\s*(?::=(.*?))?\s*\}\}`)

// substituteEnv replaces environment references in every string key and value under n, in
// place. As in APISIX, a value that contained a reference and now reads as a number or
// true/false takes that type, so `port: ${{PORT}}` is an integer.
func substituteEnv(n *yaml.Node, path string, p *problems) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			sub := path
			if n.Kind == yaml.SequenceNode {
				sub = index(path, i)
				p.lines[sub] = c.Line
			}
			substituteEnv(c, sub, p)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p.lines[join(path, k.Value)] = k.Line
			if expanded, ok := expandEnv(k.Value, join(path, k.Value), p); ok {
				k.Value, k.Tag, k.Style = expanded, "!!str", 0
			}
			substituteEnv(v, join(path, k.Value), p)
		}
	case yaml.ScalarNode:
		if n.ShortTag() != "!!str" {
			return
		}
		if expanded, ok := expandEnv(n.Value, path, p); ok {
			n.Value, n.Tag, n.Style = expanded, retag(expanded), 0
		}
	}
}

// expandEnv resolves the references in s; ok reports whether there were any.
func expandEnv(s, path string, p *problems) (string, bool) {
	if !strings.Contains(s, "${{") {
		return s, false
	}
	used := false
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		name, def := m[1], m[2]
		hasDefault := strings.Contains(ref, ":=")
		if v, set := os.LookupEnv(name); set {
			used = true
			return v
		}
		if hasDefault {
			used = true
			return strings.TrimSpace(def)
		}
		p.fail(path, "can't find environment variable %s", name)
		return ""
	})
	return out, used
}

// retag gives a substituted value the type APISIX's tonumber / "true" / "false" check gives it.
func retag(s string) string {
	switch s {
	case "true", "false":
		return "!!bool"
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return "!!int"
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return "!!float"
	}
	return "!!str"
}

// SubstituteEnv resolves ${{VAR}} references in every string key and value of a parsed YAML
// document as config.yaml's are (standalone mode's apisix.yaml uses it); source names the file
// in errors. An unset variable without a default is an error.
func SubstituteEnv(doc *yaml.Node, source string) error {
	p := &problems{source: source, lines: map[string]int{}}
	substituteEnv(doc, "", p)
	return errors.Join(p.errs...)
}
