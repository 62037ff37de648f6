package control

import (
	"net/http"
	"sort"

	"github.com/sluicegw/sluice/internal/snapshot"
)

// entry is one object as the control API lists it: APISIX's {key, value} shape.
type entry struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// problem is one object the data plane does not serve as configured, and why.
type problem struct {
	Key    string `json:"key"`
	Status int    `json:"status,omitempty"` // what a request matching it gets, when it is routed
	Error  string `json:"error"`
}

// registerSnapshotViews serves what this node runs: /v1/routes, /v1/route/{id},
// /v1/upstreams, /v1/upstream/{id}, and Sluice's /v1/errors — every object that is not served
// as written (bad JSON, missing references, plugins this build cannot run) with the reason.
func registerSnapshotViews(mux *http.ServeMux, load func() *snapshot.Snapshot) {
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, r *http.Request) {
		s := load()
		out := make([]entry, 0, len(s.Routes))
		for _, rt := range s.Routes {
			out = append(out, entry{Key: rt.Key, Value: rt.Spec})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/route/{id}", func(w http.ResponseWriter, r *http.Request) {
		rt := load().Routes[r.PathValue("id")]
		if rt == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "route[" + r.PathValue("id") + "] not found"})
			return
		}
		writeJSON(w, http.StatusOK, entry{Key: rt.Key, Value: rt.Spec})
	})
	mux.HandleFunc("GET /v1/upstreams", func(w http.ResponseWriter, r *http.Request) {
		s := load()
		out := make([]entry, 0, len(s.Upstreams))
		for _, u := range s.Upstreams {
			out = append(out, entry{Key: u.Key, Value: u.Spec})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /v1/upstream/{id}", func(w http.ResponseWriter, r *http.Request) {
		u := load().Upstreams[r.PathValue("id")]
		if u == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "upstream[" + r.PathValue("id") + "] not found"})
			return
		}
		writeJSON(w, http.StatusOK, entry{Key: u.Key, Value: u.Spec})
	})
	mux.HandleFunc("GET /v1/errors", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, problems(load()))
	})
}

func problems(s *snapshot.Snapshot) []problem {
	out := make([]problem, 0, len(s.Errors))
	seen := map[string]bool{}
	for _, rt := range s.Routes {
		switch {
		case rt.Unsupported != "":
			reason := s.Errors[rt.Key] // names a refused conf's error when that is why
			if reason == "" {
				reason = "plugin " + rt.Unsupported + " has no implementation in this build: the route fails closed"
			}
			out = append(out, problem{Key: rt.Key, Status: http.StatusServiceUnavailable, Error: reason})
			seen[rt.Key] = true
		case rt.Failure != nil:
			out = append(out, problem{Key: rt.Key, Status: rt.Failure.Status, Error: rt.Failure.Reason})
			seen[rt.Key] = true
		}
	}
	for key, reason := range s.Errors {
		if !seen[key] {
			out = append(out, problem{Key: key, Error: reason})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
