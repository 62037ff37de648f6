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

func TestNacosNodes(t *testing.T) {
	var logins int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch r.URL.Path {
		case "/nacos/v1/auth/login":
			r.ParseForm()
			if r.Method != http.MethodPost || r.PostForm.Get("username") != "nacos" || r.PostForm.Get("password") != "secret" || q.Get("password") != "" {
				http.Error(w, "bad login", 403)
				return
			}
			logins++
			fmt.Fprint(w, `{"accessToken":"tok"}`)
		case "/nacos/v1/ns/instance/list":
			if q.Get("accessToken") != "tok" || q.Get("healthyOnly") != "true" {
				http.Error(w, "forbidden", 403)
				return
			}
			key := q.Get("namespaceId") + "/" + q.Get("groupName") + "/" + q.Get("serviceName")
			switch key {
			case "public/DEFAULT_GROUP/svc":
				fmt.Fprint(w, `{"hosts":[{"ip":"127.0.0.2","port":8080,"weight":1.0},{"ip":"127.0.0.3","port":8081,"weight":2.0}]}`)
			case "dev/G1/svc":
				fmt.Fprint(w, `{"hosts":[{"ip":"127.0.0.4","port":9090}]}`)
			default:
				fmt.Fprint(w, `{"hosts":[]}`)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	withAuth := strings.Replace(srv.URL, "http://", "http://nacos:secret@", 1)
	conf, _ := json.Marshal(map[string]any{"host": []string{"http://127.0.0.1:1", withAuth}, "fetch_interval": 5})
	d, err := NewNacos(conf)
	if err != nil {
		t.Fatal(err)
	}
	nodes, ttl, err := d.Nodes("svc", nil)
	if err != nil || ttl != 5*time.Second || fmt.Sprint(nodes) != "[{127.0.0.2 8080 1 0 []} {127.0.0.3 8081 2 0 []}]" {
		t.Fatalf("svc: %v ttl %v, %v", nodes, ttl, err)
	}
	// discovery_args pick the namespace and group; an instance without weight gets the default
	nodes, _, err = d.Nodes("svc", []byte(`{"namespace_id":"dev","group_name":"G1"}`))
	if err != nil || fmt.Sprint(nodes) != "[{127.0.0.4 9090 100 0 []}]" || logins != 2 {
		t.Fatalf("dev/G1: %v, %v (logins %d)", nodes, err, logins)
	}
	for _, bad := range []string{`{}`, `{"host":["127.0.0.1:8848"]}`, `{"host":["http://a"],"weight":0}`} {
		if _, err := NewNacos(json.RawMessage(bad)); err == nil {
			t.Errorf("NewNacos(%s): no error", bad)
		}
	}
}
