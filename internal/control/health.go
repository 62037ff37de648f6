package control

import (
	"net/http"
	"sort"
	"strings"

	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/upstream"
)

// healthNode and healthEntry are APISIX's /v1/healthcheck shapes.
type healthNode struct {
	IP       string        `json:"ip"`
	Port     int           `json:"port"`
	Hostname string        `json:"hostname"`
	Status   string        `json:"status"`
	Counter  healthCounter `json:"counter"`
}

type healthCounter struct {
	Success        int `json:"success"`
	HTTPFailure    int `json:"http_failure"`
	TCPFailure     int `json:"tcp_failure"`
	TimeoutFailure int `json:"timeout_failure"`
}

type healthEntry struct {
	Name  string       `json:"name"`
	Type  string       `json:"type"`
	Nodes []healthNode `json:"nodes"`
}

func toEntry(h upstream.Health) healthEntry {
	e := healthEntry{Name: h.Name, Type: h.Type, Nodes: make([]healthNode, 0, len(h.Nodes))}
	for _, n := range h.Nodes {
		e.Nodes = append(e.Nodes, healthNode{IP: n.Host, Port: n.Port, Hostname: n.Host, Status: n.Status,
			Counter: healthCounter{n.Success, n.HTTPFailure, n.TCPFailure, n.TimeoutFailure}})
	}
	return e
}

// registerHealthViews serves the upstream health checkers: every one that started (an
// upstream with checks that served a request), and one by the object that owns it.
func registerHealthViews(mux *http.ServeMux, load func() *snapshot.Snapshot) {
	mux.HandleFunc("GET /v1/healthcheck", func(w http.ResponseWriter, r *http.Request) {
		out := []healthEntry{}
		for _, h := range snapshot.Health(load()) {
			out = append(out, toEntry(h))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/healthcheck/{kind}/{id}", func(w http.ResponseWriter, r *http.Request) {
		kind, id := r.PathValue("kind"), r.PathValue("id")
		switch kind {
		case "routes", "services", "upstreams", "stream_routes":
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "invalid src type " + kind})
			return
		}
		suffix := "/" + kind + "/" + id
		for _, h := range snapshot.Health(load()) {
			if strings.HasSuffix(h.Name, suffix) {
				writeJSON(w, http.StatusOK, toEntry(h))
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "no checker for " + kind + "[" + id + "]"})
	})
}
