package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestConsulKVNodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/kv/upstreams/webpages/" || r.URL.RawQuery != "recurse" || r.Header.Get("X-Consul-Token") != "tok" {
			http.NotFound(w, r)
			return
		}
		// values: base64 of {"weight":3} and of {"max_fails":2}
		fmt.Fprint(w, `[{"Key":"upstreams/webpages/","Value":null},
			{"Key":"upstreams/webpages/127.0.0.2:8000","Value":"eyJ3ZWlnaHQiOjN9"},
			{"Key":"upstreams/webpages/127.0.0.3:8001","Value":"eyJtYXhfZmFpbHMiOjJ9"},
			{"Key":"upstreams/webpages/not-an-address","Value":""}]`)
	}))
	defer srv.Close()
	conf, _ := json.Marshal(map[string]any{"servers": []string{srv.URL}, "token": "tok", "fetch_interval": 2})
	d, err := NewConsulKV(conf)
	if err != nil {
		t.Fatal(err)
	}
	nodes, ttl, err := d.Nodes(srv.URL+"/v1/kv/upstreams/webpages/", nil)
	if err != nil || ttl != 2*time.Second || fmt.Sprint(nodes) != "[{127.0.0.2 8000 3 0 []} {127.0.0.3 8001 1 0 []}]" {
		t.Fatalf("webpages: %v ttl %v, %v", nodes, ttl, err)
	}
	if nodes, _, err := d.Nodes(srv.URL+"/v1/kv/upstreams/none/", nil); err != nil || len(nodes) != 0 {
		t.Fatalf("an empty directory: %v, %v", nodes, err)
	}
	if _, _, err := d.Nodes("http://169.254.169.254/v1/kv/x/", nil); err == nil {
		t.Fatal("a URL on another server was fetched")
	}
}
