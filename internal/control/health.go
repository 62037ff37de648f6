package control

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/upstream"
)

// healthNode and healthEntry are APISIX's /v1/healthcheck shapes (apisix/control/v1.lua).
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

// healthEntry is one object with checks; Nodes is absent until its checker started (the
// upstream's first request), as APISIX's target list is.
type healthEntry struct {
	Name  string       `json:"name"`
	Type  string       `json:"type"`
	Nodes []healthNode `json:"nodes,omitempty"`
}

// checkedObjects lists the routes, services and upstreams whose upstream has checks, in that
// order (each by key), with their compiled upstream (nil when not compiled).
func checkedObjects(s *snapshot.Snapshot, prefix string) (routes, services, upstreams, streams []healthEntryRef) {
	compiled := map[string]*upstream.Upstream{}
	for _, u := range s.Upstreams {
		compiled[u.Key] = u
	}
	for _, r := range s.Routes {
		if r.Upstream != nil {
			compiled[r.Upstream.Key] = r.Upstream
		}
	}
	for _, r := range s.Routes {
		if t := upstream.CheckType(r.Spec.Upstream); t != "" {
			routes = append(routes, healthEntryRef{id: r.ID, key: r.Key, typ: t, u: compiled[r.Key+"#upstream"]})
		}
	}
	for id, svc := range s.Services {
		if t := upstream.CheckType(svc.Upstream); t != "" {
			key := prefix + "/services/" + id
			services = append(services, healthEntryRef{id: id, key: key, typ: t, u: compiled[key+"#upstream"]})
		}
	}
	for id, u := range s.Upstreams {
		if t := upstream.CheckType(u.Spec); t != "" {
			upstreams = append(upstreams, healthEntryRef{id: id, key: u.Key, typ: t, u: u})
		}
	}
	for _, r := range s.Stream.Routes() {
		// a stream route's own (inline) upstream; a named one is listed as the upstream
		if u := r.Upstream; u != nil && u.Key == r.Key+"#upstream" {
			if t := upstream.CheckType(u.Spec); t != "" {
				streams = append(streams, healthEntryRef{id: r.ID, key: r.Key, typ: t, u: u})
			}
		}
	}
	for _, l := range [][]healthEntryRef{routes, services, upstreams, streams} {
		sort.Slice(l, func(i, j int) bool { return l[i].key < l[j].key })
	}
	return routes, services, upstreams, streams
}

// streamRouteExists reports a stream route by id.
func streamRouteExists(s *snapshot.Snapshot, id string) bool {
	for _, r := range s.Stream.Routes() {
		if r.ID == id {
			return true
		}
	}
	return false
}

type healthEntryRef struct {
	id, key, typ string
	u            *upstream.Upstream
}

func (r healthEntryRef) entry() healthEntry {
	e := healthEntry{Name: r.key, Type: r.typ}
	if r.u == nil {
		return e
	}
	h, ok := r.u.Health()
	if !ok {
		return e
	}
	e.Nodes = make([]healthNode, 0, len(h.Nodes))
	for _, n := range h.Nodes {
		e.Nodes = append(e.Nodes, healthNode{IP: n.Host, Port: n.Port, Hostname: n.Hostname, Status: n.Status,
			Counter: healthCounter{n.Success, n.HTTPFailure, n.TCPFailure, n.TimeoutFailure}})
	}
	return e
}

// healthPage is APISIX's HTML view of the checkers (apisix/control/v1.lua HTML_TEMPLATE), sent
// to a client whose Accept names text/html.
var healthPage = template.Must(template.New("health").Parse(`<html xmlns="http://www.w3.org/1999/xhtml">
<head>
  <title>APISIX upstream check status</title>
</head>
<body>
<h1>APISIX upstream check status</h1>
<table style="background-color:white" cellspacing="0" cellpadding="3" border="1">
  <tr bgcolor="#C0C0C0">
    <th>Index</th>
    <th>Upstream</th>
    <th>Check type</th>
    <th>Host</th>
    <th>Status</th>
    <th>Success counts</th>
    <th>TCP Failures</th>
    <th>HTTP Failures</th>
    <th>TIMEOUT Failures</th>
  </tr>
{{range .}}  {{if .Healthy}}<tr>{{else}}<tr bgcolor="#FF0000">{{end}}
    <td>{{.Index}}</td>
    <td>{{.Name}}</td>
    <td>{{.Type}}</td>
    <td>{{.Host}}</td>
    <td>{{.Status}}</td>
    <td>{{.Success}}</td>
    <td>{{.TCP}}</td>
    <td>{{.HTTP}}</td>
    <td>{{.Timeout}}</td>
  </tr>
{{end}}</table>
</body>
</html>
`))

type healthRow struct {
	Index                       int
	Name, Type, Host, Status    string
	Healthy                     bool
	Success, TCP, HTTP, Timeout int
}

// writeHealth answers entries as JSON (one entry when single), or as APISIX's HTML page when
// the client asks for text/html.
func writeHealth(w http.ResponseWriter, r *http.Request, entries []healthEntry, single bool) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		var rows []healthRow
		for _, e := range entries {
			for _, n := range e.Nodes {
				rows = append(rows, healthRow{Index: len(rows) + 1, Name: e.Name, Type: e.Type,
					Host: n.IP + ":" + strconv.Itoa(n.Port), Status: n.Status,
					Healthy: n.Status == "healthy" || n.Status == "mostly_healthy",
					Success: n.Counter.Success, TCP: n.Counter.TCPFailure, HTTP: n.Counter.HTTPFailure,
					Timeout: n.Counter.TimeoutFailure})
			}
		}
		w.Header().Set("Content-Type", "text/html")
		if err := healthPage.Execute(w, rows); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error_msg": "HTML template rendering: " + err.Error()})
		}
		return
	}
	if single {
		writeJSON(w, http.StatusOK, entries[0])
		return
	}
	writeJSON(w, http.StatusOK, entries)
}

// registerHealthViews serves the upstream health checkers: every route, service and upstream
// with checks, and one by the object that owns it.
func registerHealthViews(mux *http.ServeMux, load func() *snapshot.Snapshot, prefix string) {
	mux.HandleFunc("GET /v1/healthcheck", func(w http.ResponseWriter, r *http.Request) {
		routes, services, upstreams, streams := checkedObjects(load(), prefix)
		out := []healthEntry{}
		for _, l := range [][]healthEntryRef{routes, services, upstreams, streams} {
			for _, ref := range l {
				out = append(out, ref.entry())
			}
		}
		writeHealth(w, r, out, false)
	})
	mux.HandleFunc("GET /v1/healthcheck/{kind}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": "missing src id for src type " + r.PathValue("kind")})
	})
	mux.HandleFunc("GET /v1/healthcheck/{kind}/{id}", func(w http.ResponseWriter, r *http.Request) {
		kind, id := r.PathValue("kind"), r.PathValue("id")
		s := load()
		routes, services, upstreams, streams := checkedObjects(s, prefix)
		var list []healthEntryRef
		var exists bool
		switch kind {
		case "routes":
			list, exists = routes, s.Routes[id] != nil
		case "services":
			list, exists = services, s.Services[id] != nil
		case "upstreams":
			list, exists = upstreams, s.Upstreams[id] != nil
		case "stream_routes":
			list, exists = streams, streamRouteExists(s, id)
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error_msg": "invalid src type " + kind})
			return
		}
		for _, ref := range list {
			if ref.id == id {
				writeHealth(w, r, []healthEntry{ref.entry()}, true)
				return
			}
		}
		msg := kind + "[" + id + "] not found"
		if exists {
			msg = "no checker for " + kind + "[" + id + "]"
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error_msg": msg})
	})
}
