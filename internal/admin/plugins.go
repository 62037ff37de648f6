package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// enabledDefinitions returns the enabled plugins' definitions for a subsystem, highest
// priority first.
func (h *Handler) enabledDefinitions(subsystem string) []*plugin.Definition {
	var defs []*plugin.Definition
	names := h.o.EnabledPlugins()
	if subsystem == "stream" && h.o.StreamPluginEnabled != nil {
		names = nil
		for _, d := range plugin.All() {
			if h.o.StreamPluginEnabled(d.Name) {
				names = append(names, d.Name)
			}
		}
	}
	for _, name := range names {
		d, ok := plugin.Lookup(name)
		if !ok || (subsystem == "stream" && !d.Stream) {
			continue
		}
		defs = append(defs, d)
	}
	prio := func(d *plugin.Definition) int {
		if subsystem == "stream" {
			return d.StreamPriority
		}
		return d.Priority
	}
	sort.SliceStable(defs, func(i, j int) bool {
		if prio(defs[i]) != prio(defs[j]) {
			return prio(defs[i]) > prio(defs[j])
		}
		return defs[i].Name < defs[j].Name
	})
	return defs
}

// pluginList serves GET /apisix/admin/plugins/list[?subsystem=http|stream].
func (h *Handler) pluginList(w http.ResponseWriter, r *http.Request) {
	subsystem := r.URL.Query().Get("subsystem")
	if subsystem == "" {
		subsystem = "http"
	}
	if subsystem != "http" && subsystem != "stream" {
		writeText(w, http.StatusBadRequest, "invalid subsystem passed")
		return
	}
	names := []string{}
	for _, d := range h.enabledDefinitions(subsystem) {
		names = append(names, d.Name)
	}
	writeJSON(w, http.StatusOK, names)
}

// pluginReload serves /apisix/admin/plugins/reload; only PUT reloads.
func (h *Handler) pluginReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody(fmt.Sprintf(
			"please use PUT method to reload the plugins, %s method is not allowed.", r.Method)))
		return
	}
	if h.o.ReloadPlugins != nil {
		if err := h.o.ReloadPlugins(); err != nil {
			h.log.Error("failed to reload plugins", "err", err)
			writeText(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	writeText(w, http.StatusOK, "done")
}

// pluginGet serves GET /apisix/admin/plugins/<name>[?schema_type=consumer|metadata] (also
// reached as /apisix/admin/schema/plugins/<name>) and the deprecated GET /plugins?all=true.
func (h *Handler) pluginGet(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	subsystem := q.Get("subsystem")
	if subsystem == "" {
		subsystem = "http"
	}
	if subsystem != "http" && subsystem != "stream" {
		writeJSON(w, http.StatusBadRequest, errorBody("unsupported subsystem: "+subsystem))
		return
	}
	if q.Get("all") == "true" {
		writeJSON(w, http.StatusOK, h.allPlugins(subsystem))
		return
	}
	var def *plugin.Definition
	for _, d := range h.enabledDefinitions(subsystem) {
		if d.Name == name {
			def = d
		}
	}
	if def == nil {
		writeJSON(w, http.StatusNotFound, errorBody("plugin not found in subsystem "+subsystem))
		return
	}
	schemaType := q.Get("schema_type")
	if schemaType != "consumer" && schemaType != "metadata" {
		schemaType = ""
	}
	schema := h.pluginSchema(def, schemaType)
	if schema == nil {
		writeJSON(w, http.StatusBadRequest, errorBody("not found schema"))
		return
	}
	writeJSON(w, http.StatusOK, schema)
}

// pluginSchema asks the Checker (which injects `_meta`), falling back to the definition.
func (h *Handler) pluginSchema(def *plugin.Definition, schemaType string) json.RawMessage {
	if h.o.Checker != nil {
		if s, ok := h.o.Checker.PluginSchema(def.Name, schemaType); ok && len(s) > 0 {
			return s
		}
	}
	switch schemaType {
	case "consumer":
		return def.ConsumerSchema
	case "metadata":
		return def.MetadataSchema
	}
	return def.Schema
}

// pluginInfo is one entry of GET /apisix/admin/plugins?all=true.
type pluginInfo struct {
	Version        string          `json:"version"`
	Priority       int             `json:"priority"`
	Schema         json.RawMessage `json:"schema"`
	MetadataSchema json.RawMessage `json:"metadata_schema,omitempty"`
	ConsumerSchema json.RawMessage `json:"consumer_schema,omitempty"`
	Type           string          `json:"type,omitempty"`
	Scope          string          `json:"scope,omitempty"`
}

func (h *Handler) allPlugins(subsystem string) map[string]pluginInfo {
	out := map[string]pluginInfo{}
	for _, d := range h.enabledDefinitions(subsystem) {
		prio := d.Priority
		if subsystem == "stream" {
			prio = d.StreamPriority
		}
		out[d.Name] = pluginInfo{
			Version:        d.Version,
			Priority:       prio,
			Schema:         h.pluginSchema(d, ""),
			MetadataSchema: d.MetadataSchema,
			ConsumerSchema: d.ConsumerSchema,
			Type:           d.Type,
			Scope:          d.Scope,
		}
	}
	return out
}

// schemaGet serves GET /apisix/admin/schema/<resource>.
func (h *Handler) schemaGet(w http.ResponseWriter, name string) {
	kind, ok := schemaNames[name]
	var schema json.RawMessage
	if ok && h.o.Checker != nil {
		schema, ok = h.o.Checker.ResourceSchema(kind)
	}
	if !ok || len(schema) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("not found schema: "+name))
		return
	}
	writeJSON(w, http.StatusOK, schema)
}

// schemaValidate serves POST /apisix/admin/schema/validate/<resource>: 200 with no body when
// the object is valid, else 400 with the validator's message.
func (h *Handler) schemaValidate(w http.ResponseWriter, r *http.Request, segs []string) {
	name := seg(segs, 2)
	res, ok := resources[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorBody("Unsupported resource type: "+name))
		return
	}
	c := &call{w: w, r: r, res: res}
	if e := c.readBody(); e != nil {
		writeJSON(w, e.status, e.body)
		return
	}
	obj, isObj := c.body.(map[string]any)
	if !isObj {
		writeJSON(w, http.StatusBadRequest, errorBody(fmt.Sprintf("wrong type: expected object, got %s", luaType(c.body))))
		return
	}
	id, _ := idString(obj["id"])
	var err error
	if res.name == model.PluginMetadata {
		err = fmt.Errorf("not found schema: %s", name)
	} else {
		err = h.o.Checker.Check(res.name, id, obj)
	}
	if err != nil {
		msg := validationError(err).body.(map[string]string)["error_msg"]
		// This endpoint reports the bare schema error, without PUT's prefix.
		writeJSON(w, http.StatusBadRequest, errorBody(strings.TrimPrefix(msg, "invalid configuration: ")))
		return
	}
	w.WriteHeader(http.StatusOK)
}
