package model

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// Error is a validation failure; Msg is APISIX's error_msg text, answered with status 400.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func failf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Options configure a Checker.
type Options struct {
	// Enabled reports whether a plugin is enabled on this node (config.yaml `plugins:`);
	// nil means every registered plugin is enabled.
	Enabled func(name string) bool
	// StreamEnabled reports whether a plugin is in the node's `stream_plugins:`, for
	// stream routes; nil means Enabled decides.
	StreamEnabled func(name string) bool
	// PluginEnv, when set, gives the Env a plugin's New sees when a write is checked
	// (the node and the plugin's node-level state, so a conf naming e.g. a cache zone that
	// only this node's config defines is accepted).
	PluginEnv func(name string) plugin.Env
}

// Checker validates resources against their embedded schemas, cross-field rules and the
// registered plugins' schemas. It is safe for concurrent use; compiled schemas are cached.
type Checker struct {
	opts      Options
	resources map[Kind]*compiledSchema
	secrets   map[string]*compiledSchema
	plugins   *pluginSchemas
}

// NewChecker compiles the resource schemas.
func NewChecker(o Options) (*Checker, error) {
	c := &Checker{
		opts:      o,
		resources: make(map[Kind]*compiledSchema, len(schemaFiles)),
		secrets:   make(map[string]*compiledSchema, len(secretSchemaFiles)),
		plugins:   &pluginSchemas{cache: map[string]*compiledSchema{}},
	}
	for k, file := range schemaFiles {
		cs, err := loadAndCompile(file)
		if err != nil {
			return nil, err
		}
		c.resources[k] = cs
	}
	for manager, file := range secretSchemaFiles {
		cs, err := loadAndCompile(file)
		if err != nil {
			return nil, err
		}
		c.secrets[manager] = cs
	}
	return c, nil
}

func loadAndCompile(file string) (*compiledSchema, error) {
	doc, err := loadSchemaDoc(file)
	if err != nil {
		return nil, err
	}
	return compileSchema("sluice:///schemas/"+file, doc)
}

// kindNames are the singular names APISIX uses in its id errors ("wrong route id").
var kindNames = map[Kind]string{
	Routes:         "route",
	Services:       "service",
	Upstreams:      "upstream",
	SSLs:           "ssl",
	GlobalRules:    "global rule",
	PluginConfigs:  "plugin config",
	ConsumerGroups: "consumer group",
	StreamRoutes:   "stream route",
	Protos:         "proto",
	Credentials:    "credential",
	Secrets:        "secret",
}

// Check validates obj (a decoded JSON object) as a resource of kind with the given id (empty for
// POST). It adds the top-level defaults APISIX's schema injects (e.g. route `status`/`priority`,
// upstream `type`/`scheme`/`pass_host`/`hash_on`), never plugin-conf defaults (APISIX stores
// plugin confs as written). Failures are *Error with APISIX's text.
func (c *Checker) Check(kind Kind, id string, obj map[string]any) error {
	if obj == nil {
		return &Error{Msg: "missing configurations"}
	}
	if kind == PluginMetadata {
		return c.CheckPluginMetadata(id, obj)
	}
	if kind == Secrets {
		return c.checkSecret(id, obj)
	}
	cs, ok := c.resources[kind]
	if !ok {
		return failf("Unsupported resource type: %s", kind)
	}
	if kind != Consumers {
		if err := checkID(kind, id, obj); err != nil {
			return err
		}
	}
	var err error
	switch kind {
	case Routes:
		err = c.checkRoute(cs, obj)
	case Services:
		err = c.checkService(cs, obj)
	case Upstreams:
		err = c.checkUpstreamResource(cs, obj)
	case Consumers:
		err = c.checkConsumer(cs, id, obj)
	case Credentials:
		err = c.checkCredential(cs, obj)
	case SSLs:
		err = checkSSL(cs, obj)
	case StreamRoutes:
		err = c.checkStreamRoute(cs, obj)
	case ConsumerGroups:
		err = c.checkPluginHolder(cs, obj, schemaTypeConsumer)
	case GlobalRules, PluginConfigs:
		err = c.checkPluginHolder(cs, obj, schemaTypeMain)
	default:
		err = schemaCheck(cs, obj)
	}
	if err != nil {
		return err
	}
	injectDefaults(cs.doc, obj)
	return nil
}

// checkID applies APISIX's resource id rules and stores the URL id in the object, as APISIX
// does before validating it against the schema.
func checkID(kind Kind, id string, obj map[string]any) error {
	name := kindNames[kind]
	bodyID, has := obj["id"]
	if id == "" {
		if has {
			return failf("wrong %s id, do not need it", name)
		}
		return nil
	}
	if has {
		if idString(bodyID) != id {
			return failf("wrong %s id", name)
		}
		return nil
	}
	obj["id"] = id
	return nil
}

// idString renders an id like Lua's tostring: integers without a fraction.
func idString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprint(t)
	case json.Number:
		return t.String()
	case int:
		return fmt.Sprint(t)
	case int64:
		return fmt.Sprint(t)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// schemaCheck validates obj against a resource schema with APISIX's prefix.
func schemaCheck(cs *compiledSchema, obj map[string]any) error {
	if msg := cs.validate(obj); msg != "" {
		return &Error{Msg: "invalid configuration: " + msg}
	}
	return nil
}

// luaOnly rejects fields that carry Lua source: Sluice does not embed a Lua VM, so accepting
// and ignoring them would silently change behaviour.
func luaOnly(obj map[string]any, fields ...string) error {
	for _, f := range fields {
		if _, ok := obj[f]; ok {
			return failf("%s is not supported: Sluice does not run Lua", f)
		}
	}
	return nil
}

// checkInlineUpstream applies the upstream rules to obj's inline `upstream`, when it has one.
func checkInlineUpstream(obj map[string]any, http bool) error {
	if up, ok := obj["upstream"].(map[string]any); ok {
		return checkUpstream(up, http)
	}
	return nil
}

// checkPluginsField validates obj's `plugins` object, when it has one, against each plugin's
// schema of schemaType; msgPrefix is put before the plugin's message.
func (c *Checker) checkPluginsField(obj map[string]any, schemaType string, stream bool, msgPrefix string) error {
	if plugins, ok := obj["plugins"].(map[string]any); ok {
		if msg := c.checkPlugins(plugins, schemaType, stream); msg != "" {
			return &Error{Msg: msgPrefix + msg}
		}
	}
	return nil
}

func (c *Checker) checkRoute(cs *compiledSchema, obj map[string]any) error {
	if obj["host"] != nil && obj["hosts"] != nil {
		return &Error{Msg: "only one of host or hosts is allowed"}
	}
	if obj["remote_addr"] != nil && obj["remote_addrs"] != nil {
		return &Error{Msg: "only one of remote_addr or remote_addrs is allowed"}
	}
	// APISIX reports schema failures (e.g. `script` with `plugins`) before anything else.
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	if err := luaOnly(obj, "filter_func", "script", "script_id"); err != nil {
		return err
	}
	if err := checkInlineUpstream(obj, true); err != nil {
		return err
	}
	if err := c.checkPluginsField(obj, schemaTypeMain, false, ""); err != nil {
		return err
	}
	if vars, ok := obj["vars"]; ok {
		if err := CheckExpr(vars); err != nil {
			return &Error{Msg: "failed to validate the 'vars' expression: " + err.Error()}
		}
	}
	return nil
}

func (c *Checker) checkService(cs *compiledSchema, obj map[string]any) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	if err := luaOnly(obj, "script"); err != nil {
		return err
	}
	if err := checkInlineUpstream(obj, true); err != nil {
		return err
	}
	return c.checkPluginsField(obj, schemaTypeMain, false, "")
}

func (c *Checker) checkUpstreamResource(cs *compiledSchema, obj map[string]any) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	return checkUpstream(obj, true)
}

func (c *Checker) checkStreamRoute(cs *compiledSchema, obj map[string]any) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	if err := checkInlineUpstream(obj, false); err != nil {
		return err
	}
	return c.checkPluginsField(obj, schemaTypeMain, true, "")
}

func (c *Checker) checkConsumer(cs *compiledSchema, username string, obj map[string]any) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	if username != "" && obj["username"] != username {
		return &Error{Msg: "wrong username"}
	}
	return c.checkPluginsField(obj, schemaTypeConsumer, false, "invalid plugins configuration: ")
}

func (c *Checker) checkCredential(cs *compiledSchema, obj map[string]any) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	plugins, ok := obj["plugins"].(map[string]any)
	if !ok {
		return nil
	}
	if msg := c.checkPlugins(plugins, schemaTypeConsumer, false); msg != "" {
		return &Error{Msg: "invalid plugins configuration: " + msg}
	}
	for name := range plugins {
		def, ok := c.lookupPlugin(name, false)
		if !ok {
			return &Error{Msg: "unknown plugin " + name}
		}
		if def.Type != "auth" {
			return &Error{Msg: "only supports auth type plugins in consumer credential"}
		}
	}
	return nil
}

// checkPluginHolder validates consumer groups, global rules and plugin configs: a schema
// and a `plugins` object.
func (c *Checker) checkPluginHolder(cs *compiledSchema, obj map[string]any, schemaType string) error {
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	return c.checkPluginsField(obj, schemaType, false, "")
}

// checkSecret validates a secret whose id is "<manager>/<id>".
func (c *Checker) checkSecret(id string, obj map[string]any) error {
	manager, _, _ := strings.Cut(id, "/")
	cs, ok := c.secrets[manager]
	if !ok {
		return failf("invalid secret manager: %s", manager)
	}
	if err := schemaCheck(cs, obj); err != nil {
		return err
	}
	obj["id"] = id
	injectDefaults(cs.doc, obj)
	return nil
}

// ResourceSchema returns the JSON schema of a resource kind (GET /apisix/admin/schema/<kind>).
// Secrets answer per manager through SecretSchema.
func (c *Checker) ResourceSchema(kind Kind) (json.RawMessage, bool) {
	cs, ok := c.resources[kind]
	if !ok {
		return nil, false
	}
	return append(json.RawMessage(nil), cs.raw...), true
}

// SecretSchema returns the JSON schema of a secret manager ("vault", "aws", "gcp").
func (c *Checker) SecretSchema(manager string) (json.RawMessage, bool) {
	cs, ok := c.secrets[manager]
	if !ok {
		return nil, false
	}
	return append(json.RawMessage(nil), cs.raw...), true
}
