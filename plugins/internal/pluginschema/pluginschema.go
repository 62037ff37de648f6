// Package pluginschema compiles a registered plugin's conf schema once per process, for
// plugins that check the confs of other plugins they embed (multi-auth, workflow).
package pluginschema

import (
	"bytes"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicegw/sluice/plugin"
)

// compiled caches each plugin's compiled schema by name; registered schemas never change
// after start, so the cache lives as long as the process.
var compiled sync.Map // name → *jsonschema.Schema

// Of returns def's conf schema, compiled (draft 7, formats asserted).
func Of(def *plugin.Definition) (*jsonschema.Schema, error) {
	if v, ok := compiled.Load(def.Name); ok {
		return v.(*jsonschema.Schema), nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(def.Schema))
	if err != nil {
		return nil, err
	}
	url := "sluice:///plugins/" + def.Name + "/schema.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	compiled.Store(def.Name, sch)
	return sch, nil
}
