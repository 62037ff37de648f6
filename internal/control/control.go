// Package control serves the control API (apisix.control, 127.0.0.1:9090 by default): read-only
// views of what this node runs. More endpoints arrive with the data plane.
package control

import (
	"encoding/json"
	"net/http"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
)

// Options configure the control API.
type Options struct {
	Checker *model.Checker
	// Enabled lists the plugins enabled on this node.
	Enabled func() []string
	// Snapshot returns the configuration the data plane serves; nil on a control_plane node.
	Snapshot func() *snapshot.Snapshot
	// Prefix is the etcd key prefix ("/apisix"), for the keys the views show.
	Prefix string
	// ReloadPlugins is PUT /v1/plugins/reload (the Admin API's plugins reload).
	ReloadPlugins func() error
	// EnablePprof serves /debug/pprof/ (apisix.enable_pprof; off by default).
	EnablePprof bool
}

// New returns the control API handler.
func New(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/schema", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, schemas(o))
	})
	if o.Snapshot != nil {
		prefix := o.Prefix
		if prefix == "" {
			prefix = "/apisix"
		}
		registerHealthViews(mux, o.Snapshot, prefix)
		registerSnapshotViews(mux, o.Snapshot)
		registerPluginViews(mux, o.Snapshot)
		registerConfigViews(mux, o.Snapshot, prefix, o.Enabled)
	}
	if o.Snapshot == nil {
		mux.HandleFunc("GET /v1/healthcheck", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, []any{}) // a control_plane node checks nothing
		})
	}
	registerActions(mux, o.ReloadPlugins)
	registerPprof(mux, o.EnablePprof)
	return mux
}

// schemas builds APISIX's /v1/schema shape: the main resource schemas and every enabled
// plugin's schemas.
func schemas(o Options) map[string]any {
	main := map[string]json.RawMessage{}
	for _, k := range []struct {
		name string
		kind model.Kind
	}{
		{"route", model.Routes}, {"service", model.Services}, {"upstream", model.Upstreams},
		{"consumer", model.Consumers}, {"consumer_group", model.ConsumerGroups}, {"ssl", model.SSLs},
		{"global_rule", model.GlobalRules}, {"plugin_config", model.PluginConfigs},
		{"stream_route", model.StreamRoutes}, {"proto", model.Protos}, {"credential", model.Credentials},
	} {
		if s, ok := o.Checker.ResourceSchema(k.kind); ok {
			main[k.name] = s
		}
	}
	plugins := map[string]any{}
	for _, name := range o.Enabled() {
		d, ok := plugin.Lookup(name)
		if !ok {
			continue
		}
		entry := map[string]any{"priority": d.Priority, "version": d.Version}
		if s, ok := o.Checker.PluginSchema(name, ""); ok {
			entry["schema"] = s
		}
		if len(d.ConsumerSchema) > 0 {
			entry["consumer_schema"] = d.ConsumerSchema
		}
		if len(d.MetadataSchema) > 0 {
			entry["metadata_schema"] = d.MetadataSchema
		}
		if d.Type != "" {
			entry["type"] = d.Type
		}
		plugins[name] = entry
	}
	return map[string]any{"main": main, "plugins": plugins, "stream_plugins": map[string]any{}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
