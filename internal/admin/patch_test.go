package admin

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/sluicegw/sluice/internal/store"
)

func init() {
	register(
		suiteCase{"PatchMerge", testPatchMerge},
		suiteCase{"PatchSubPath", testPatchSubPath},
		suiteCase{"PatchConflict", testPatchConflict},
	)
}

func testPatchMerge(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.expect(e.do("PUT", "/apisix/admin/routes/1",
		`{"uri":"/a","methods":["GET","POST"],"desc":"old","labels":{"env":"prod","build":"16"},"upstream":`+upstream1+`}`), 201, "", false)
	created := decode(t, e.do("GET", "/apisix/admin/routes/1", "").body)["value"].(map[string]any)

	got := e.do("PATCH", "/apisix/admin/routes/1", `{"methods":["PUT"],"desc":null,"labels":{"build":"17"}}`)
	e.expect(got, 200, `{"key":"{P}/routes/1","value":{"uri":"/a","methods":["PUT"],"labels":{"env":"prod","build":"17"}}}`, false)
	v := decode(t, got.body)["value"].(map[string]any)
	if _, ok := v["desc"]; ok {
		t.Fatalf("null did not delete desc: %v", v)
	}
	if v["create_time"] != created["create_time"] {
		t.Fatalf("create_time changed: %v -> %v", created["create_time"], v["create_time"])
	}
	// What was answered is what is stored.
	stored := decode(t, e.do("GET", "/apisix/admin/routes/1", "").body)["value"]
	if !reflect.DeepEqual(stored, v) {
		t.Fatalf("stored %v, answered %v", stored, v)
	}
	e.steps([]step{
		{"PATCH", "/apisix/admin/routes/2", `{"desc":"x"}`, 404, `{"message":"Key not found"}`, true},
		{"PATCH", "/apisix/admin/routes", `{"desc":"x"}`, 400, `{"error_msg":"missing route id"}`, true},
		{"PATCH", "/apisix/admin/routes/1", "", 400, `{"error_msg":"missing new configuration"}`, true},
		{"PATCH", "/apisix/admin/routes/1", `"x"`, 400, `{"error_msg":"invalid configuration"}`, true},
		{"PATCH", "/apisix/admin/routes/1", `{"id":"9"}`, 400, `{"error_msg":"wrong route id"}`, true},
		{"PATCH", "/apisix/admin/routes/1?ttl=x", `{"desc":"x"}`, 400, `{"error_msg":"invalid argument ttl: should be a number"}`, true},
	})
}

func testPatchSubPath(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.expect(e.do("PUT", "/apisix/admin/routes/1",
		`{"uri":"/a","methods":["GET"],"upstream":{"type":"roundrobin","nodes":{"127.0.0.1:8080":1,"127.0.0.2:8080":1}}}`), 201, "", false)
	got := e.do("PATCH", "/apisix/admin/routes/1/upstream/nodes", `{"127.0.0.3:8080":2}`)
	e.expect(got, 200, "", false)
	nodes := decode(t, got.body)["value"].(map[string]any)["upstream"].(map[string]any)["nodes"]
	if !reflect.DeepEqual(nodes, map[string]any{"127.0.0.3:8080": float64(2)}) {
		t.Fatalf("sub-path PATCH must replace the nodes wholesale, got %v", nodes)
	}
	e.steps([]step{
		{"PATCH", "/apisix/admin/routes/1/methods", `["POST","PUT"]`, 200, `{"value":{"methods":["POST","PUT"]}}`, false},
		{"PATCH", "/apisix/admin/routes/1/desc", `"text"`, 200, `{"value":{"desc":"text"}}`, false},
		{"PATCH", "/apisix/admin/routes/1/uri/x", `"y"`, 400, `{"error_msg":"invalid sub-path: /uri"}`, true},
		{"PATCH", "/apisix/admin/upstreams/9/nodes", `{"127.0.0.1:80":1}`, 404, `{"message":"Key not found"}`, true},
	})
}

// conflictStore changes the key between the PATCH's read and its write, as a concurrent
// writer would.
type conflictStore struct {
	store.Store
	fired bool
}

func (s *conflictStore) CompareAndSwap(ctx context.Context, key string, value []byte, rev int64, o store.WriteOptions) (store.KV, error) {
	if !s.fired {
		s.fired = true
		if _, _, err := s.Store.Put(ctx, key, []byte(`{"uri":"/other"}`), store.WriteOptions{}); err != nil {
			return store.KV{}, err
		}
	}
	return s.Store.CompareAndSwap(ctx, key, value, rev, o)
}

func testPatchConflict(t *testing.T, st store.Store, prefix string) {
	cs := &conflictStore{Store: st}
	e := newEnv(t, cs, prefix)
	e.expect(e.do("PUT", "/apisix/admin/routes/1", route1), 201, "", false)
	e.expect(e.do("PATCH", "/apisix/admin/routes/1", `{"desc":"x"}`), http.StatusServiceUnavailable,
		`{"error_msg":"value changed before overwritten"}`, true)
	if !cs.fired {
		t.Fatal("the concurrent write did not happen")
	}
}
