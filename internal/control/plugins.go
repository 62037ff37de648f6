package control

import (
	"net/http"

	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/snapshot"
)

// pluginEntry is one plugin a route runs, as GET /v1/routes/{id}/plugins lists it.
type pluginEntry struct {
	Name     string   `json:"name"`
	Priority int      `json:"priority"`
	Source   string   `json:"source"` // route, service, plugin_config, consumer, consumer_group, global_rule
	Parent   string   `json:"parent"` // etcd key of the object the conf came from
	Phases   []string `json:"phases"`
	Filter   bool     `json:"filter,omitempty"` // runs only when its _meta.filter matches
}

// routePlugins is the debug view of what a route runs: the global rules' chain first (it
// runs first in every phase), then the route's chain in order. With ?consumer=<username>
// the route's chain is shown merged with that consumer's and its group's plugins.
type routePlugins struct {
	RouteID     string        `json:"route_id"`
	Consumer    string        `json:"consumer,omitempty"`
	Unsupported string        `json:"unsupported,omitempty"` // the route fails closed (503)
	Error       string        `json:"error,omitempty"`
	Global      []pluginEntry `json:"global"`
	Plugins     []pluginEntry `json:"plugins"`
	// RewriteInConsumer lists the consumer's plugins whose rewrite runs after the route's.
	RewriteInConsumer []pluginEntry `json:"rewrite_in_consumer,omitempty"`
}

func registerPluginViews(mux *http.ServeMux, load func() *snapshot.Snapshot) {
	mux.HandleFunc("GET /v1/routes/{id}/plugins", func(w http.ResponseWriter, r *http.Request) {
		s := load()
		rt := s.Routes[r.PathValue("id")]
		if rt == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "route[" + r.PathValue("id") + "] not found"})
			return
		}
		out := routePlugins{RouteID: rt.ID, Unsupported: rt.Unsupported, Error: s.Errors[rt.Key],
			Global: []pluginEntry{}, Plugins: []pluginEntry{}}
		chain := rt.Chain
		if s.Plugins != nil {
			out.Global = entries(s.Plugins.Global.Plugins0())
			if c := r.URL.Query().Get("consumer"); c != "" {
				out.Consumer = c
				m := s.Plugins.Merged(rt.Chain, c)
				chain = m.Chain
				out.RewriteInConsumer = entries(m.Added)
			}
		}
		out.Plugins = entries(chain.Plugins0())
		writeJSON(w, http.StatusOK, out)
	})
}

func entries(list []*pluginrt.Instance) []pluginEntry {
	out := make([]pluginEntry, 0, len(list))
	for _, in := range list {
		out = append(out, pluginEntry{Name: in.Name, Priority: in.Priority, Source: string(in.Source),
			Parent: in.Parent, Phases: in.Phases(), Filter: in.HasFilter()})
	}
	return out
}
