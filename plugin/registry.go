// Package plugin is Sluice's public plugin SDK: a plugin type registers its name, priority and
// JSON Schemas here, and the gateway validates and compiles configurations against them. A third
// party writes a plugin against this package alone; it imports nothing from internal/.
package plugin

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// Definition describes one plugin type the way APISIX's plugin modules do.
type Definition struct {
	Name     string
	Priority int
	Version  string // APISIX reports "0.1" for most plugins
	// Type is "auth" for authentication plugins, "validation" for request-validation, else "".
	Type string
	// Schema validates the plugin's config on routes, services, plugin_configs, global rules and
	// (for non-auth plugins) consumers and consumer groups. `_meta` is injected by the validator.
	Schema json.RawMessage
	// ConsumerSchema validates an auth plugin's config on a consumer or credential (the credential).
	ConsumerSchema json.RawMessage
	// MetadataSchema validates /apisix/admin/plugin_metadata/<name>; nil when the plugin has none.
	MetadataSchema json.RawMessage
	// EncryptFields lists dotted paths of the conf that data_encryption stores AES-encrypted.
	EncryptFields []string
	// DefaultEnabled: in APISIX's default `plugins` list.
	DefaultEnabled bool
	// Stream: usable on stream_routes (StreamPriority is its priority there).
	Stream         bool
	StreamPriority int
	// Scope is "global" for plugins APISIX marks so (they may only be configured in global rules).
	Scope string
	// RunPolicy "prefer_route": a global rule's copy is skipped for a request whose route
	// carries the plugin itself (APISIX's run_policy; prometheus uses it).
	RunPolicy string

	// New compiles one conf (already validated against Schema) into an instance implementing
	// some of the phase interfaces. Nil: the plugin has no behaviour in this build, and a
	// resource naming it fails closed.
	New func(conf json.RawMessage, env Env) (any, error)
	// Index, for auth plugins, builds the lookup structure (credential → consumer) from every
	// consumer and credential carrying this plugin, once per snapshot; instances read it with
	// Ctx.Credentials.
	Index func(creds []Credential) (any, error)
	// Start, when set, runs once per node when the plugin is enabled (at start and on
	// plugins/reload) and returns what its instances share (Env.Shared): an export server,
	// cache zones, a tracer provider. An error keeps the plugin from running on the node
	// (routes naming it fail closed) and is logged.
	Start func(node Node) (Shared, error)
}

var (
	mu       sync.RWMutex
	registry = map[string]*Definition{}
)

// Register adds a plugin type. Registering a name twice is a programming error and panics, so a
// duplicate is found at startup rather than silently overriding a built-in.
func Register(d Definition) {
	if d.Name == "" {
		panic("plugin: Register with empty name")
	}
	if len(d.Schema) == 0 {
		d.Schema = json.RawMessage(`{"type":"object"}`)
	}
	if d.Version == "" {
		d.Version = "0.1"
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[d.Name]; dup {
		panic(fmt.Sprintf("plugin: %q registered twice", d.Name))
	}
	registry[d.Name] = &d
}

// Lookup returns the registered definition of name.
func Lookup(name string) (*Definition, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := registry[name]
	return d, ok
}

// All returns every registered definition, sorted by priority, highest first (name breaks ties).
func All() []*Definition {
	mu.RLock()
	out := make([]*Definition, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out
}
