// Package k8stest is a Kubernetes API server stand-in for discovery tests: it serves the
// Endpoints and EndpointSlices of the services set on it, to a client with the bearer token.
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
	Token    string
	mu       sync.Mutex
	services map[string]Service // "namespace/name"
}

// Start runs a TLS stand-in (the API server's default schema is https) requiring token.
func Start(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token, services: map[string]Service{}}
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

// HostPort is the stand-in's host and port (service.host, service.port).
func (s *Server) HostPort() (string, string) {
	u, _ := url.Parse(s.URL)
	return u.Hostname(), u.Port()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case len(parts) == 6 && parts[0] == "api" && parts[2] == "namespaces" && parts[4] == "endpoints":
		svc, ok := s.services[parts[3]+"/"+parts[5]]
		if !ok {
			http.Error(w, `{"kind":"Status","code":404}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(endpoints(svc))
	case len(parts) == 6 && parts[0] == "apis" && parts[1] == "discovery.k8s.io" && parts[5] == "endpointslices":
		name := strings.TrimPrefix(r.URL.Query().Get("labelSelector"), "kubernetes.io/service-name=")
		var items []any
		if svc, ok := s.services[parts[4]+"/"+name]; ok {
			items = append(items, slice(svc))
		}
		json.NewEncoder(w).Encode(map[string]any{"kind": "EndpointSliceList", "items": items})
	default:
		http.NotFound(w, r)
	}
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
