package admin

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/store"
)

func init() {
	register(
		suiteCase{"Auth", testAuth},
		suiteCase{"AllowAdmin", testAllowAdmin},
		suiteCase{"CORS", testCORS},
		suiteCase{"StoreErrors", testStoreErrors},
	)
}

func testAuth(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	missing := `{"error_msg":"failed to check token","description":"missing apikey"}`
	wrong := `{"error_msg":"failed to check token","description":"wrong apikey"}`
	viewer := `{"error_msg":"failed to check token","description":"invalid method for role viewer"}`
	for _, c := range []struct {
		name, method, path string
		prep               func(*http.Request)
		status             int
		want               string
	}{
		{"no key", "GET", "/apisix/admin/routes", nil, 401, missing},
		{"no key on plugins/list", "GET", "/apisix/admin/plugins/list", nil, 401, missing},
		{"no key on reload", "PUT", "/apisix/admin/plugins/reload", nil, 401, missing},
		{"wrong header", "GET", "/apisix/admin/routes", func(r *http.Request) { r.Header.Set("X-API-KEY", "nope") }, 401, wrong},
		{"header", "GET", "/apisix/admin/routes", func(r *http.Request) { r.Header.Set("X-API-KEY", adminKey) }, 200, ""},
		{"query", "GET", "/apisix/admin/routes?api_key=" + adminKey, nil, 200, ""},
		{"wrong query wins over header", "GET", "/apisix/admin/routes?api_key=nope",
			func(r *http.Request) { r.Header.Set("X-API-KEY", adminKey) }, 401, wrong},
		{"cookie", "GET", "/apisix/admin/routes", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "x_api_key", Value: adminKey}) }, 200, ""},
		{"viewer reads", "GET", "/apisix/admin/routes", func(r *http.Request) { r.Header.Set("X-API-KEY", viewerKey) }, 200, ""},
		{"viewer writes", "PUT", "/apisix/admin/routes/1", func(r *http.Request) { r.Header.Set("X-API-KEY", viewerKey) }, 401, viewer},
		{"viewer deletes", "DELETE", "/apisix/admin/routes/1", func(r *http.Request) { r.Header.Set("X-API-KEY", viewerKey) }, 401, viewer},
		{"HEAD needs no key", "HEAD", "/apisix/admin", nil, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body string
			if c.method == "PUT" {
				body = route1
			}
			e.expect(e.doWith(c.method, c.path, body, c.prep), c.status, c.want, true)
		})
	}
	open := newEnv(t, st, prefix, func(o *Options) { o.KeyRequired = false })
	open.expect(open.doWith("GET", "/apisix/admin/routes", "", nil), 200, "", false)
}

func testAllowAdmin(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix, func(o *Options) {
		o.AllowAdmin = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	for _, c := range []struct {
		remote string
		status int
	}{
		{"10.1.2.3:5555", 200},
		{"[::1]:5555", 200},
		{"[::ffff:10.0.0.1]:1", 200},
		{"192.168.1.1:5555", 403},
	} {
		got := e.doWith("GET", "/apisix/admin/routes", "", func(r *http.Request) {
			r.RemoteAddr = c.remote
			r.Header.Set("X-API-KEY", adminKey)
		})
		if got.status != c.status {
			t.Errorf("%s: status %d, want %d", c.remote, got.status, c.status)
		}
		if c.status == 403 && !strings.Contains(got.body, "403 Forbidden") {
			t.Errorf("%s: body %q, want nginx's 403 page", c.remote, got.body)
		}
	}
}

func testCORS(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix, func(o *Options) { o.EnableCORS = true })
	pre := e.doWith("OPTIONS", "/apisix/admin/routes", "", nil)
	if pre.status != 200 || pre.header.Get("Access-Control-Allow-Methods") != "POST, GET, PUT, OPTIONS, DELETE, PATCH" ||
		pre.header.Get("Access-Control-Allow-Origin") != "*" || pre.header.Get("Access-Control-Allow-Headers") != "*" {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
	got := e.do("GET", "/apisix/admin/routes", "")
	if got.header.Get("Access-Control-Allow-Origin") != "*" || got.header.Get("Access-Control-Expose-Headers") != "*" {
		t.Fatalf("CORS headers missing: %v", got.header)
	}
	off := newEnv(t, st, prefix)
	if h := off.do("GET", "/apisix/admin/routes", "").header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Fatalf("CORS header without enable_admin_cors: %q", h)
	}
}

// downStore stands in for an unreachable etcd: no real server can be made to fail on demand
// for single calls.
type downStore struct{ store.Store }

var errStoreDown = errors.New("etcdserver: request timed out")

func (downStore) Get(context.Context, string) (store.KV, error) { return store.KV{}, errStoreDown }
func (downStore) List(context.Context, string) ([]store.KV, int64, error) {
	return nil, 0, errStoreDown
}
func (downStore) Put(context.Context, string, []byte, store.WriteOptions) (store.KV, bool, error) {
	return store.KV{}, false, errStoreDown
}
func (downStore) Create(context.Context, string, []byte, store.WriteOptions) (store.KV, error) {
	return store.KV{}, errStoreDown
}
func (downStore) Delete(context.Context, string) (store.KV, error) { return store.KV{}, errStoreDown }

func testStoreErrors(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix, func(o *Options) { o.Store = downStore{st} })
	want := `{"error_msg":"etcdserver: request timed out"}`
	e.steps([]step{
		{"GET", "/apisix/admin/routes/1", "", 503, want, true},
		{"GET", "/apisix/admin/routes", "", 503, want, true},
		{"PUT", "/apisix/admin/routes/1", route1, 503, want, true},
		{"DELETE", "/apisix/admin/routes/1", "", 503, want, true},
	})
}
