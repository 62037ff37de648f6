package conf

import (
	"errors"
	"fmt"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Load reads a config.yaml file; see Parse.
func Load(path string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a configuration in APISIX's conf/config.yaml format over Default(): each key in
// data replaces the default at that key. source names the file in errors. Environment
// references (${{VAR}}, ${{VAR:=default}}) are resolved in keys and values first. Unknown keys
// come back as warnings; a value of the wrong type or out of range, or a failed Validate, is an
// error naming the file and the key path. Warnings are returned even with an error.
func Parse(data []byte, source string) (*Config, []Warning, error) {
	cfg := Default()
	p := &problems{source: source, lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	cfg.source, cfg.lines = source, p.lines
	if len(doc.Content) == 0 { // empty, or only comments: APISIX's defaults
		return cfg, nil, nil
	}
	root := doc.Content[0]
	p.lines[""] = root.Line
	substituteEnv(root, "", p)
	if len(p.errs) > 0 {
		return nil, p.warnings, errors.Join(p.errs...)
	}
	if root.Kind != yaml.MappingNode && !isNull(root) {
		p.fail("", "expected a mapping at the top level, got %s", describe(root))
		return nil, p.warnings, errors.Join(p.errs...)
	}
	(&decoder{p}).decode(root, "", reflect.ValueOf(cfg).Elem())
	// A value that failed to decode kept its default, so the rules can still run over all.
	cfg.checkKeys(p)
	if len(p.errs) > 0 {
		return nil, p.warnings, errors.Join(p.errs...)
	}
	if err := cfg.Validate(); err != nil {
		return nil, p.warnings, err
	}
	return cfg, p.warnings, nil
}
