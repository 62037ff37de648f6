package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluicegw/sluice/internal/model"
)

// fakeApplier records the configurations pushed.
type fakeApplier struct {
	mu   sync.Mutex
	docs []map[string]any
}

func (f *fakeApplier) ApplyConfig(doc map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs = append(f.docs, doc)
	return nil
}

func configsHandler(t *testing.T, stream bool) (http.Handler, *fakeApplier) {
	t.Helper()
	checker, err := model.NewChecker(model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeApplier{}
	return New(Options{Checker: checker, Standalone: f, StreamMode: stream}), f
}

func configsDo(h http.Handler, method, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/apisix/admin/configs", strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestConfigsPushRules(t *testing.T) {
	h, f := configsHandler(t, false)
	d := func(digest string) map[string]string { return map[string]string{"X-Digest": digest} }
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"conf version not an integer", `{"routes_conf_version":1.5}`, 400, "routes_conf_version must be a number"},
		{"conf version null", `{"routes_conf_version":null}`, 400, "routes_conf_version must be a number"},
		{"duplicate username", `{"consumers":[{"username":"jack"},{"username":"jack"}]}`, 400, "found duplicate username jack in consumers"},
		{"duplicate credential id", `{"consumers":[{"id":"jack/credentials/a","plugins":{"key-auth":{"key":"k"}}},{"id":"jack/credentials/a","plugins":{"key-auth":{"key":"j"}}}]}`, 400, "found duplicate credential id jack/credentials/a in consumers"},
		{"bad credential id", `{"consumers":[{"id":"ja ck/credentials/c 1","plugins":{"key-auth":{"key":"k"}}}]}`, 400, "invalid consumers at index 0"},
		{"explicit arr id next to an id-less item", `{"routes":[{"uri":"/a","upstream":{"nodes":{"127.0.0.1:1":1}}},{"id":"arr_1","uri":"/b","upstream":{"nodes":{"127.0.0.1:1":1}}}]}`, 400, "found duplicate id arr_1 in routes"},
		{"YAML with a number key", "routes:\n  - id: r\n    uri: /y\n    labels:\n      1: x\n    upstream:\n      nodes:\n        \"127.0.0.1:1\": 1\n", 202, ""},
	} {
		hdr := d("digest-" + tc.name)
		if strings.HasPrefix(tc.name, "YAML") {
			hdr["Content-Type"] = "application/yaml"
		}
		w := configsDo(h, "PUT", tc.body, hdr)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, w.Code, w.Body, tc.status, tc.msg)
		}
	}
	// stream_routes are not kept without stream mode
	if w := configsDo(h, "PUT", `{"stream_routes":[{"id":"s","upstream":{"nodes":{"127.0.0.1:1":1}}}]}`, d("s")); w.Code != 202 {
		t.Fatalf("push with stream_routes: %d %s", w.Code, w.Body)
	}
	last := f.docs[len(f.docs)-1]
	if _, kept := last["stream_routes"]; kept {
		t.Errorf("stream_routes kept without stream mode: %v", last)
	}
	// HEAD before and after; validate does not apply
	h2, f2 := configsHandler(t, true)
	if w := configsDo(h2, "HEAD", "", nil); w.Code != 200 || w.Header().Get("X-Digest") != "" {
		t.Errorf("HEAD before any push: %d %v", w.Code, w.Header())
	}
	r := httptest.NewRequest("POST", "/apisix/admin/configs/validate", strings.NewReader(`{"routes":[{"id":"r","uri":"/v","upstream":{"nodes":{"127.0.0.1:1":1}}}]}`))
	w := httptest.NewRecorder()
	h2.ServeHTTP(w, r)
	if w.Code != 200 || len(f2.docs) != 0 {
		t.Errorf("validate: %d, %d applied", w.Code, len(f2.docs))
	}
}
