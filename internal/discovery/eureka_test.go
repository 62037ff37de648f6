package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEurekaNodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "eu" || p != "pw" || r.Header.Get("Accept") != "application/json" {
			http.Error(w, "unauthorized", 401)
			return
		}
		if r.URL.Path != "/eureka/apps/USER-SERVICE" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"application":{"name":"USER-SERVICE","instance":[
			{"ipAddr":"127.0.0.2","status":"UP","port":{"$":8080,"@enabled":"true"},"securePort":{"$":443,"@enabled":"false"},"metadata":{"weight":"20"}},
			{"ipAddr":"127.0.0.3","status":"UP","port":{"$":8081,"@enabled":"false"},"securePort":{"$":8443,"@enabled":"true"}},
			{"ipAddr":"127.0.0.4","status":"DOWN","port":{"$":8082,"@enabled":"true"}},
			{"ipAddr":"127.0.0.5","status":"UP","overriddenStatus":"OUT_OF_SERVICE","port":{"$":8083,"@enabled":"true"}},
			{"ipAddr":"127.0.0.6","status":"UP","port":{"$":8084,"@enabled":false},"securePort":{"$":8444,"@enabled":false}},
			{"ipAddr":"127.0.0.7","status":"UP","port":{"$":8085,"@enabled":true},"metadata":{"weight":5,"zone":{"a":1}}}]}}`)
	}))
	defer srv.Close()
	conf, _ := json.Marshal(map[string]any{"host": []string{strings.Replace(srv.URL, "http://", "http://eu:pw@", 1)}, "fetch_interval": 4})
	d, err := NewEureka(conf)
	if err != nil {
		t.Fatal(err)
	}
	nodes, ttl, err := d.Nodes("USER-SERVICE", nil)
	if err != nil || ttl != 4*time.Second || fmt.Sprint(nodes) != "[{127.0.0.2 8080 20 0 []} {127.0.0.3 8443 100 0 []} {127.0.0.7 8085 5 0 []}]" {
		t.Fatalf("USER-SERVICE: %v ttl %v, %v", nodes, ttl, err)
	}
	if nodes, _, err := d.Nodes("MISSING", nil); err != nil || len(nodes) != 0 {
		t.Fatalf("an unknown application: %v, %v", nodes, err)
	}
	if _, err := NewEureka(json.RawMessage(`{"host":["127.0.0.1:8761"]}`)); err == nil {
		t.Error("a host without a scheme: no error")
	}
}
