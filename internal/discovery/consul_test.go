package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fakeConsul answers /v1/health/service/<name>?passing=true from instances, checking the token.
func fakeConsul(t *testing.T, token string, instances map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("passing") != "true" || r.Header.Get("X-Consul-Token") != token {
			http.Error(w, "bad query", 400)
			return
		}
		body, ok := instances[r.URL.Path]
		if !ok {
			body = "[]"
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConsulNodes(t *testing.T) {
	url := fakeConsul(t, "tok", map[string]string{
		"/v1/health/service/web": `[{"Node":{"Address":"10.0.0.1"},"Service":{"Address":"127.0.0.2","Port":8080}},
			{"Node":{"Address":"127.0.0.3"},"Service":{"Address":"","Port":8081}}]`,
	})
	conf, _ := json.Marshal(map[string]any{"servers": []string{"http://127.0.0.1:1", url}, "token": "tok",
		"weight": 5, "fetch_interval": 7, "skip_services": []string{"skipped"},
		"default_service": map[string]any{"host": "127.0.0.9", "port": 80}})
	c, err := NewConsul(conf)
	if err != nil {
		t.Fatal(err)
	}
	nodes, ttl, err := c.Nodes("web", nil)
	if err != nil || ttl != 7*time.Second || fmt.Sprint(nodes) != "[{127.0.0.2 8080 5 0 []} {127.0.0.3 8081 5 0 []}]" {
		t.Fatalf("web: %v ttl %v, %v", nodes, ttl, err)
	}
	if nodes, _, err := c.Nodes("empty", nil); err != nil || len(nodes) != 1 || nodes[0].Host != "127.0.0.9" {
		t.Fatalf("a service without instances: %v, %v; want default_service", nodes, err)
	}
	if _, _, err := c.Nodes("skipped", nil); err == nil {
		t.Fatal("a skipped service: no error")
	}
	for _, bad := range []string{`{}`, `{"servers":["127.0.0.1:8500"]}`, `{"servers":["http://a"],"weight":0}`} {
		if _, err := NewConsul(json.RawMessage(bad)); err == nil {
			t.Errorf("NewConsul(%s): no error", bad)
		}
	}
}
