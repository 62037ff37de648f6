// Package k8stest is a Kubernetes API server stand-in for discovery tests: it lists the
// Endpoints (by metadata.name field selector) and EndpointSlices (by the service-name label)
// of the services set on it, filtered by a label selector, to a client with the bearer token.
package k8stest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Port is one named service port.
type Port struct {
	Name string `json:"name,omitempty"`
	Port int    `json:"port"`
}

// Service is one Service's endpoints: ready and not-ready addresses, its ports and labels.
type Service struct {
	Ready, NotReady []string
	Ports           []Port
	Labels          map[string]string
}

// Server is the stand-in; Set changes what it serves.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	token    string
	services map[string]Service // "namespace/name"
}

// Start runs a TLS stand-in (the API server's default schema is https) requiring token.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{token: token, services: map[string]Service{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Set replaces a service's endpoints.
func (s *Server) Set(nsName string, svc Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[nsName] = svc
}

// Token is the bearer token the stand-in accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetToken changes the accepted token (a rotated service account token).
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// HostPort is the stand-in's host and port (service.host, service.port).
func (s *Server) HostPort() (string, string) {
	u, _ := url.Parse(s.URL)
	return u.Hostname(), u.Port()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	w.Header().Set("Content-Type", "application/json")
	labels := r.URL.Query().Get("labelSelector")
	switch {
	case len(parts) == 5 && parts[0] == "api" && parts[2] == "namespaces" && parts[4] == "endpoints":
		name := strings.TrimPrefix(r.URL.Query().Get("fieldSelector"), "metadata.name=")
		items := []any{}
		if svc, ok := s.services[parts[3]+"/"+name]; ok && selects(labels, svc.Labels) {
			items = append(items, endpoints(svc))
		}
		json.NewEncoder(w).Encode(map[string]any{"kind": "EndpointsList", "items": items})
	case len(parts) == 6 && parts[0] == "apis" && parts[1] == "discovery.k8s.io" && parts[5] == "endpointslices":
		items := []any{}
		for key, svc := range s.services {
			ns, name, _ := strings.Cut(key, "/")
			withName := map[string]string{"kubernetes.io/service-name": name}
			for k, v := range svc.Labels {
				withName[k] = v
			}
			if ns == parts[4] && selects(labels, withName) {
				items = append(items, slice(svc))
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"kind": "EndpointSliceList", "items": items})
	default:
		http.NotFound(w, r)
	}
}

// selects applies a label selector's equality and existence requirements (a=b, a!=b, a, !a).
func selects(selector string, labels map[string]string) bool {
	for _, req := range strings.Split(selector, ",") {
		req = strings.TrimSpace(req)
		switch {
		case req == "":
		case strings.Contains(req, "!="):
			k, v, _ := strings.Cut(req, "!=")
			if labels[k] == v {
				return false
			}
		case strings.Contains(req, "="):
			k, v, _ := strings.Cut(req, "=")
			if got, ok := labels[k]; !ok || got != v {
				return false
			}
		case strings.HasPrefix(req, "!"):
			if _, ok := labels[req[1:]]; ok {
				return false
			}
		default:
			if _, ok := labels[req]; !ok {
				return false
			}
		}
	}
	return true
}

func endpoints(svc Service) map[string]any {
	addrs := func(ips []string) []map[string]string {
		out := []map[string]string{}
		for _, ip := range ips {
			out = append(out, map[string]string{"ip": ip})
		}
		return out
	}
	return map[string]any{"kind": "Endpoints", "metadata": map[string]any{"labels": svc.Labels},
		"subsets": []map[string]any{{"addresses": addrs(svc.Ready), "notReadyAddresses": addrs(svc.NotReady), "ports": svc.Ports}}}
}

func slice(svc Service) map[string]any {
	var eps []map[string]any
	for _, ip := range svc.Ready {
		eps = append(eps, map[string]any{"addresses": []string{ip}, "conditions": map[string]bool{"ready": true}})
	}
	for _, ip := range svc.NotReady {
		eps = append(eps, map[string]any{"addresses": []string{ip}, "conditions": map[string]bool{"ready": false}})
	}
	return map[string]any{"metadata": map[string]any{"labels": svc.Labels}, "endpoints": eps, "ports": svc.Ports}
}
