package control

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"sort"

	"github.com/sluicegw/sluice/internal/snapshot"
)

// registerConfigViews serves /v1/services, /v1/service/{id}, /v1/plugin_metadatas and
// /v1/plugin_metadata/{name} from the configuration the data plane runs.
func registerConfigViews(mux *http.ServeMux, load func() *snapshot.Snapshot, prefix string, enabled func() []string) {
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		s := load()
		out := make([]entry, 0, len(s.Services))
		for id, svc := range s.Services {
			out = append(out, entry{Key: prefix + "/services/" + id, Value: svc})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/service/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		svc := load().Services[id]
		if svc == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "service[" + id + "] not found"})
			return
		}
		writeJSON(w, http.StatusOK, entry{Key: prefix + "/services/" + id, Value: svc})
	})
	mux.HandleFunc("GET /v1/plugin_metadatas", func(w http.ResponseWriter, r *http.Request) {
		// as APISIX: the metadata of the enabled plugins, in the plugins list's order
		s := load()
		out := make([]json.RawMessage, 0, len(s.PluginMetadata))
		for _, name := range enabled() {
			if raw, ok := s.PluginMetadata[name]; ok {
				out = append(out, withID(raw, name))
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/plugin_metadata/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		raw, ok := load().PluginMetadata[name]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "plugin metadata[" + name + "] not found"})
			return
		}
		writeJSON(w, http.StatusOK, withID(raw, name))
	})
}

// withID is a plugin_metadata value with its id (the plugin name), as APISIX lists them.
func withID(raw json.RawMessage, name string) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	m["id"] = name
	b, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return b
}

// registerActions serves PUT /v1/plugins/reload and POST /v1/gc.
func registerActions(mux *http.ServeMux, reload func() error) {
	if reload != nil {
		mux.HandleFunc("PUT /v1/plugins/reload", func(w http.ResponseWriter, r *http.Request) {
			if err := reload(); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error_msg": err.Error()})
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("done"))
		})
	}
	mux.HandleFunc("POST /v1/gc", func(w http.ResponseWriter, r *http.Request) {
		// APISIX runs a full Lua GC cycle; Go's equivalent also returns freed memory to the OS
		runtime.GC()
		debug.FreeOSMemory()
		w.WriteHeader(http.StatusOK)
	})
}
