package all

import (
	"fmt"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicegw/sluice/plugin"
)

// schemaSample is, for one plugin and schema kind, a config taken from the plugin's APISIX docs
// or tests (which must validate) and one that breaks a single constraint (which must not).
type schemaSample struct {
	plugin, kind string
	good, bad    string
}

// runSchemaSamples validates every sample's good config and rejects its bad one, one subtest each.
func runSchemaSamples(t *testing.T, samples []schemaSample) {
	t.Helper()
	for i, c := range samples {
		t.Run(fmt.Sprintf("%s/%s/%d", c.plugin, c.kind, i), func(t *testing.T) {
			d, ok := plugin.Lookup(c.plugin)
			if !ok {
				t.Fatalf("%s is not registered", c.plugin)
			}
			raw, ok := pluginSchemas(d)[c.kind]
			if !ok {
				t.Fatalf("%s has no %s schema", c.plugin, c.kind)
			}
			sch, err := compilePluginSchema(c.plugin+"/"+c.kind, raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(mustSchemaJSON(t, c.good)); err != nil {
				t.Errorf("documented config rejected: %s\n%v", c.good, err)
			}
			if err := sch.Validate(mustSchemaJSON(t, c.bad)); err == nil {
				t.Errorf("invalid config accepted: %s", c.bad)
			}
		})
	}
}

// checkSchemasCompile compiles every schema the named plugin registers, as the Admin API will,
// so a typo in an embedded file or a pattern RE2 cannot compile fails here.
func checkSchemasCompile(t *testing.T, name string) {
	t.Helper()
	d, ok := plugin.Lookup(name)
	if !ok {
		t.Errorf("%s is not registered", name)
		return
	}
	for kind, raw := range pluginSchemas(d) {
		if _, err := compilePluginSchema(d.Name+"/"+kind, raw); err != nil {
			t.Errorf("%s %s schema: %v", d.Name, kind, err)
		}
	}
}

// pluginSchemas returns the schemas a definition carries, keyed by kind.
func pluginSchemas(d *plugin.Definition) map[string][]byte {
	out := map[string][]byte{"schema": d.Schema}
	if len(d.ConsumerSchema) > 0 {
		out["consumer"] = d.ConsumerSchema
	}
	if len(d.MetadataSchema) > 0 {
		out["metadata"] = d.MetadataSchema
	}
	return out
}

// compilePluginSchema compiles raw as draft-07 with format assertions on, as APISIX's validator
// checks formats such as ipv4 and ipv6.
func compilePluginSchema(name string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	url := "mem://" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

func mustSchemaJSON(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}
