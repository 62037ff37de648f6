package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicegw/sluice/internal/discovery/k8stest"
	"github.com/sluicegw/sluice/internal/upstream"
)

func k8sConf(t *testing.T, s *k8stest.Server, extra map[string]any) json.RawMessage {
	t.Helper()
	host, port := s.HostPort()
	m := map[string]any{"service": map[string]any{"host": host, "port": port}, "client": map[string]any{"token": s.Token()}}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func TestKubernetesEndpoints(t *testing.T) {
	s := k8stest.Start(t, "tok")
	s.Set("default/web", k8stest.Service{Ready: []string{"10.0.0.1", "10.0.0.2"}, NotReady: []string{"10.0.0.9"},
		Ports: []k8stest.Port{{Name: "http", Port: 8080}, {Name: "metrics", Port: 9100}}, Labels: map[string]string{"app": "web"}})
	s.Set("default/plain", k8stest.Service{Ready: []string{"10.0.1.1"}, Ports: []k8stest.Port{{Port: 7000}}})
	s.Set("kube-system/dns", k8stest.Service{Ready: []string{"10.0.2.1"}, Ports: []k8stest.Port{{Name: "dns", Port: 53}}})
	for _, slices := range []bool{false, true} {
		k, err := NewKubernetes(k8sConf(t, s, map[string]any{"watch_endpoint_slices": slices, "default_weight": 7,
			"namespace_selector": map[string]any{"not_equal": "kube-system"}}))
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{
			"default/web:http":     "[{10.0.0.1 8080 7 0 []} {10.0.0.2 8080 7 0 []}]", // not-ready addresses left out
			"default/web:metrics":  "[{10.0.0.1 9100 7 0 []} {10.0.0.2 9100 7 0 []}]",
			"default/plain:7000":   "[{10.0.1.1 7000 7 0 []}]", // an unnamed port by its number
			"default/web:grpc":     "none",
			"default/missing:http": "none",
			"kube-system/dns:dns":  "none", // namespace not selected
		} {
			nodes, _, err := k.Nodes(name, nil)
			if want == "none" {
				if !errors.Is(err, upstream.ErrNoInstances) {
					t.Errorf("slices %v, %s: %v %v, want ErrNoInstances", slices, name, nodes, err)
				}
				continue
			}
			if err != nil || fmt.Sprint(nodes) != want {
				t.Errorf("slices %v, %s: %v %v, want %s", slices, name, nodes, err, want)
			}
		}
	}
	if _, _, err := mustK8s(t, s, nil).Nodes("no-port", nil); err == nil {
		t.Error("a service_name without namespace and port: no error")
	}
	bad, _ := NewKubernetes(k8sConf(t, s, map[string]any{"client": map[string]any{"token": "wrong"}}))
	if _, _, err := bad.Nodes("default/web:http", nil); err == nil {
		t.Error("a refused token: no error")
	}
	for selector, kept := range map[string]bool{"app=api": false, "app=web": true, "app!=web": false, "!app": false, "app": true} {
		for _, slices := range []bool{false, true} {
			sel := mustK8s(t, s, map[string]any{"label_selector": selector, "watch_endpoint_slices": slices})
			nodes, _, err := sel.Nodes("default/web:http", nil)
			if kept != (err == nil && len(nodes) == 2) {
				t.Errorf("label_selector %s (slices %v): %v %v, want kept=%v", selector, slices, nodes, err, kept)
			}
		}
	}
	// namespace_selector.match covers the whole name
	m := mustK8s(t, s, map[string]any{"namespace_selector": map[string]any{"match": []string{"defaul"}}})
	if _, _, err := m.Nodes("default/web:http", nil); !errors.Is(err, upstream.ErrNoInstances) {
		t.Errorf("match [defaul] selected default: %v", err)
	}
}

func mustK8s(t *testing.T, s *k8stest.Server, extra map[string]any) *Kubernetes {
	t.Helper()
	k, err := NewKubernetes(k8sConf(t, s, extra))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKubernetesConfig(t *testing.T) {
	s := k8stest.Start(t, "filetok")
	s.Set("ns/svc", k8stest.Service{Ready: []string{"10.0.0.5"}, Ports: []k8stest.Port{{Name: "p", Port: 80}}})
	host, port := s.HostPort()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("filetok\n"), 0o600)
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	// the defaults: host and port from the environment, https
	k, err := NewKubernetes(json.RawMessage(fmt.Sprintf(`{"client":{"token_file":%q}}`, tokenFile)))
	if err != nil {
		t.Fatal(err)
	}
	if nodes, _, err := k.Nodes("ns/svc:p", nil); err != nil || len(nodes) != 1 || nodes[0].Weight != 50 {
		t.Errorf("defaults: %v %v", nodes, err)
	}
	// a rotated service account token: refused once, the file is read again
	os.WriteFile(tokenFile, []byte("rotated\n"), 0o600)
	s.SetToken("rotated")
	s.Set("ns/other", k8stest.Service{Ready: []string{"10.0.0.6"}, Ports: []k8stest.Port{{Name: "p", Port: 80}}})
	if nodes, _, err := k.Nodes("ns/other:p", nil); err != nil || len(nodes) != 1 {
		t.Errorf("after the token rotated: %v %v", nodes, err)
	}
	s.SetToken("filetok")
	// several clusters: the id prefixes the service name
	multi, err := NewKubernetes(json.RawMessage(fmt.Sprintf(`[{"id":"c1","service":{"host":%q,"port":%q},"client":{"token":"filetok"}}]`, host, port)))
	if err != nil {
		t.Fatal(err)
	}
	if nodes, _, err := multi.Nodes("c1/ns/svc:p", nil); err != nil || len(nodes) != 1 {
		t.Errorf("multi-cluster: %v %v", nodes, err)
	}
	if _, _, err := multi.Nodes("c2/ns/svc:p", nil); err == nil {
		t.Error("an unknown cluster id: no error")
	}
	for _, bad := range []string{
		`{"service":{"schema":"ftp","host":"h","port":1},"client":{"token":"x"}}`,
		`{"service":{"host":"${SLUICE_UNSET_K8S_HOST}","port":1},"client":{"token":"x"}}`,
		`[{"service":{"host":"h","port":1},"client":{"token":"x"}}]`,
		`{"service":{"host":"h","port":1},"client":{"token_file":"/nonexistent/token"}}`,
		`{"service":{"host":"h","port":1},"client":{"token":"x"},"default_weight":-1}`,
	} {
		if _, err := NewKubernetes(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
