package model

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/sluicegw/sluice/plugin"
)

// Schema types of a plugin, as APISIX's core.schema.TYPE_* and the `schema_type` query.
const (
	schemaTypeMain     = ""
	schemaTypeConsumer = "consumer"
	schemaTypeMetadata = "metadata"
)

// metaSchema is APISIX's `_meta`, injected into every plugin's main schema.
var metaSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"disable": map[string]any{"type": "boolean"},
		"error_response": map[string]any{
			"oneOf": []any{
				map[string]any{"type": "string"},
				map[string]any{"type": "object"},
			},
		},
		"priority": map[string]any{
			"description": "priority of plugins by customized order",
			"type":        "integer",
		},
		"filter": map[string]any{
			"description": "filter determines whether the plugin needs to be executed at runtime",
			"type":        "array",
		},
		"pre_function": map[string]any{
			"description": "function to be executed in each phase before execution of plugins. The pre_function will have access to two arguments: `conf` and `ctx`.",
			"type":        "string",
		},
	},
	"additionalProperties": false,
}

const injectedComment = "this is a mark for our injected plugin schema"

// pluginSchemas caches compiled plugin schemas by name and schema type. Plugins register in
// init(), so an entry never goes stale within a process.
type pluginSchemas struct {
	mu    sync.RWMutex
	cache map[string]*compiledSchema
}

// pluginSchemaDoc returns the schema document of def for a schema type, `_meta` injected
// into the main one as APISIX's plugin loader does.
func pluginSchemaDoc(def *plugin.Definition, schemaType string) (map[string]any, error) {
	raw := def.Schema
	switch schemaType {
	case schemaTypeConsumer:
		if len(def.ConsumerSchema) > 0 {
			raw = def.ConsumerSchema
		}
	case schemaTypeMetadata:
		if len(def.MetadataSchema) == 0 {
			return nil, nil
		}
		raw = def.MetadataSchema
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("plugin %s: decode %s schema: %w", def.Name, schemaTypeName(schemaType), err)
	}
	if schemaType == schemaTypeMain || (schemaType == schemaTypeConsumer && len(def.ConsumerSchema) == 0) {
		props, _ := doc["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
			doc["properties"] = props
		}
		props["_meta"] = deepCopy(metaSchema)
		doc["$comment"] = injectedComment
	}
	return doc, nil
}

func schemaTypeName(t string) string {
	if t == "" {
		return "main"
	}
	return t
}

// get compiles (once) and returns the schema of plugin def for a schema type; nil, nil when
// the plugin has no schema of that type.
func (p *pluginSchemas) get(def *plugin.Definition, schemaType string) (*compiledSchema, error) {
	key := def.Name + "\x00" + schemaType
	p.mu.RLock()
	cs, ok := p.cache[key]
	p.mu.RUnlock()
	if ok {
		return cs, nil
	}
	doc, err := pluginSchemaDoc(def, schemaType)
	if err != nil || doc == nil {
		return nil, err
	}
	cs, err = compileSchema("sluice:///plugins/"+def.Name+"/"+schemaTypeName(schemaType)+".json", doc)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.cache[key]; ok {
		return prev, nil
	}
	p.cache[key] = cs
	return cs, nil
}

// lookupPlugin finds an enabled plugin; stream selects stream_plugins.
func (c *Checker) lookupPlugin(name string, stream bool) (*plugin.Definition, bool) {
	def, ok := plugin.Lookup(name)
	if !ok {
		return nil, false
	}
	if stream && !def.Stream {
		return nil, false
	}
	enabled := c.opts.Enabled
	if stream && c.opts.StreamEnabled != nil {
		enabled = c.opts.StreamEnabled
	}
	if enabled != nil && !enabled(name) {
		return nil, false
	}
	return def, true
}

// checkPlugins validates a resource's `plugins` object as APISIX's plugin.check_schema does
// and returns its message ("" when valid). schemaType is "consumer" on consumers, consumer
// groups and credentials, where auth plugins are validated by their consumer_schema.
func (c *Checker) checkPlugins(plugins map[string]any, schemaType string, stream bool) string {
	names := make([]string, 0, len(plugins))
	for name := range plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		conf, ok := plugins[name].(map[string]any)
		if !ok {
			b, _ := json.Marshal(plugins[name])
			return fmt.Sprintf("invalid plugin conf %s for plugin [%s]", b, name)
		}
		def, ok := c.lookupPlugin(name, stream)
		if !ok {
			return fmt.Sprintf("unknown plugin [%s]", name)
		}
		st := schemaTypeMain
		if schemaType == schemaTypeConsumer && def.Type == "auth" {
			st = schemaTypeConsumer
		}
		cs, err := c.plugins.get(def, st)
		if err != nil {
			return fmt.Sprintf("failed to check the configuration of plugin %s err: %v", name, err)
		}
		meta, _ := conf["_meta"].(map[string]any)
		if msg := cs.validate(conf); msg != "" {
			if disabled, _ := meta["disable"].(bool); disabled {
				slog.Warn("plugin conf fails its schema but is disabled", "plugin", name, "err", msg)
				continue
			}
			return fmt.Sprintf("failed to check the configuration of plugin %s err: %s", name, msg)
		}
		if st == schemaTypeMain {
			if msg := c.checkSemantics(def, conf); msg != "" {
				return fmt.Sprintf("failed to check the configuration of plugin %s err: %s", name, msg)
			}
		}
		if meta == nil {
			continue
		}
		if filter, ok := meta["filter"]; ok {
			if err := CheckExpr(filter); err != nil {
				return "failed to validate the 'vars' expression: " + err.Error()
			}
		}
		if _, ok := meta["pre_function"]; ok {
			return fmt.Sprintf("_meta.pre_function in plugin %s is not supported: Sluice does not run Lua", name)
		}
	}
	return ""
}

// PluginSchema returns the JSON schema of plugin name as GET /apisix/admin/plugins/<name> shows
// it: schemaType "" (with `_meta` injected), "consumer" or "metadata". A plugin without a
// consumer or metadata schema answers with its main schema, as APISIX does.
func (c *Checker) PluginSchema(name, schemaType string) (json.RawMessage, bool) {
	def, ok := c.lookupPlugin(name, false)
	if !ok {
		return nil, false
	}
	st := schemaType
	if st == schemaTypeMetadata && len(def.MetadataSchema) == 0 {
		st = schemaTypeMain
	}
	if st != schemaTypeMain && st != schemaTypeConsumer && st != schemaTypeMetadata {
		st = schemaTypeMain
	}
	cs, err := c.plugins.get(def, st)
	if err != nil || cs == nil {
		return nil, false
	}
	return append(json.RawMessage(nil), cs.raw...), true
}

// CheckPluginMetadata validates obj against the metadata_schema of plugin name, with
// APISIX's plugin_metadata texts.
func (c *Checker) CheckPluginMetadata(name string, obj map[string]any) error {
	if name == "" {
		return &Error{Msg: "missing plugin name"}
	}
	def, ok := plugin.Lookup(name)
	if !ok {
		return &Error{Msg: "invalid plugin name"}
	}
	if len(def.MetadataSchema) == 0 {
		return &Error{Msg: "no metadata schema for plugin " + name}
	}
	cs, err := c.plugins.get(def, schemaTypeMetadata)
	if err != nil {
		return &Error{Msg: "invalid configuration: " + err.Error()}
	}
	// APISIX stores the plugin name as the id; metadata schemas do not declare it.
	inst := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "id" {
			inst[k] = v
		}
	}
	if msg := cs.validate(inst); msg != "" {
		return &Error{Msg: "invalid configuration: " + msg}
	}
	obj["id"] = name
	return nil
}

// checkSemantics compiles conf with the plugin's New, so the checks APISIX makes in a plugin's
// check_schema beyond its JSON Schema (an ip list that does not parse, a regex, cors
// credentials with "*") reject the write instead of failing the route later. The instance is
// closed at once.
func (c *Checker) checkSemantics(def *plugin.Definition, conf map[string]any) string {
	if def.New == nil {
		return ""
	}
	clean := conf
	if _, ok := conf["_meta"]; ok {
		clean = make(map[string]any, len(conf))
		for k, v := range conf {
			if k != "_meta" {
				clean[k] = v
			}
		}
	}
	raw, err := json.Marshal(clean)
	if err != nil {
		return err.Error()
	}
	var env plugin.Env
	if c.opts.PluginEnv != nil {
		env = c.opts.PluginEnv(def.Name)
	}
	env.Logger = slog.New(slog.DiscardHandler)
	inst, err := def.New(raw, env)
	if err != nil {
		return err.Error()
	}
	if c, ok := inst.(plugin.Closer); ok {
		c.Close()
	}
	return ""
}
