package discovery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicegw/sluice/internal/discovery/k8stest"
)

func k8sConf(t *testing.T, s *k8stest.Server, extra map[string]any) json.RawMessage {
	t.Helper()
	host, port := s.HostPort()
	m := map[string]any{"service": map[string]any{"host": host, "port": port}, "client": map[string]any{"token": s.Token}}
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
			"default/web:grpc":     "[]",
			"default/plain:7000":   "[{10.0.1.1 7000 7 0 []}]", // an unnamed port by its number
			"default/missing:http": "[]",
			"kube-system/dns:dns":  "[]", // namespace not selected
		} {
			nodes, _, err := k.Nodes(name, nil)
			if err != nil || fmt.Sprint(nodes) != want && !(want == "[]" && len(nodes) == 0) {
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
	sel := mustK8s(t, s, map[string]any{"label_selector": "app=api"})
	if nodes, _, err := sel.Nodes("default/web:http", nil); err != nil || len(nodes) != 0 {
		t.Errorf("label_selector app=api kept web: %v %v", nodes, err)
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
		`{"service":{"host":"h","port":1},"client":{"token":"x"},"label_selector":"env in (a,b)"}`,
	} {
		if _, err := NewKubernetes(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
