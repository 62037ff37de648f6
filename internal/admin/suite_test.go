package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/encryption"
	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/etcd/etcdtest"
	_ "github.com/sluicegw/sluice/plugins/all"
)

// The whole behaviour suite runs once per store implementation: the embedded etcd and, when
// Debian's etcd binary is installed, an external etcd process.

func TestAdminEmbeddedEtcd(t *testing.T) {
	runSuite(t, func(t *testing.T) store.Store {
		s, _ := etcdtest.StartEmbedded(t)
		return s
	})
}

func TestAdminExternalEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("external etcd suite skipped in -short mode")
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("Debian's etcd binary is not installed")
	}
	runSuite(t, func(t *testing.T) store.Store {
		s, _, _ := etcdtest.StartExternal(t)
		return s
	})
}

// suiteCase is one behaviour test; it gets a fresh key prefix on a shared store.
type suiteCase struct {
	name string
	run  func(t *testing.T, st store.Store, prefix string)
}

var suiteCases []suiteCase

// register adds cases to the suite; test files call it from init.
func register(cases ...suiteCase) { suiteCases = append(suiteCases, cases...) }

var prefixSeq atomic.Int64

func runSuite(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	for _, c := range suiteCases {
		t.Run(c.name, func(t *testing.T) {
			prefix := fmt.Sprintf("/apisix%d", prefixSeq.Add(1))
			c.run(t, st, prefix)
		})
	}
}

const (
	adminKey  = "edd1c9f034335f136f87ad84b625c8f1"
	viewerKey = "4054f7cf07e344346cd3f287985e76a2"
)

// testPlugins are enabled on the test node; all are real registrations from plugins/all.
var testPlugins = []string{"key-auth", "basic-auth", "jwt-auth", "hmac-auth", "http-logger", "limit-count", "grpc-transcode", "traffic-split"}

// env is a handler on a store under one prefix.
type env struct {
	t      *testing.T
	h      http.Handler
	st     store.Store
	prefix string
	opts   Options
}

func newEnv(t *testing.T, st store.Store, prefix string, tweak ...func(*Options)) *env {
	t.Helper()
	checker, err := model.NewChecker(model.Options{})
	if err != nil {
		t.Fatalf("checker: %v", err)
	}
	o := Options{
		Store:   st,
		Checker: checker,
		Prefix:  prefix,
		Keys: []conf.AdminKey{
			{Name: "admin", Key: adminKey, Role: "admin"},
			{Name: "viewer", Key: viewerKey, Role: "viewer"},
		},
		KeyRequired:    true,
		StreamMode:     true,
		EnabledPlugins: func() []string { return testPlugins },
	}
	for _, f := range tweak {
		f(&o)
	}
	return &env{t: t, h: New(o), st: st, prefix: prefix, opts: o}
}

// response is what a request returned.
type response struct {
	status int
	body   string
	header http.Header
}

// do sends a request with the admin key; "{P}" in path and body stands for the prefix.
func (e *env) do(method, path, body string) response {
	e.t.Helper()
	return e.doWith(method, path, body, func(r *http.Request) { r.Header.Set("X-API-KEY", adminKey) })
}

func (e *env) doWith(method, path, body string, prep func(*http.Request)) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(e.expand(body))
	}
	r := httptest.NewRequest(method, e.expand(path), rd)
	if prep != nil {
		prep(r)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return response{status: w.Code, body: w.Body.String(), header: w.Header()}
}

func (e *env) expand(s string) string { return strings.ReplaceAll(s, "{P}", e.prefix) }

// expect checks status and body: a want starting with '{' or '[' is compared as JSON (exact
// when exact is set, else as a subset: every field in want must be in got with that value);
// any other want must equal the body.
func (e *env) expect(got response, status int, want string, exact bool) {
	e.t.Helper()
	if got.status != status {
		e.t.Fatalf("status = %d, want %d; body %s", got.status, status, got.body)
	}
	if want == "" {
		return
	}
	want = e.expand(want)
	if !strings.HasPrefix(want, "{") && !strings.HasPrefix(want, "[") {
		if got.body != want {
			e.t.Fatalf("body = %q, want %q", got.body, want)
		}
		return
	}
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		e.t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if err := json.Unmarshal([]byte(got.body), &g); err != nil {
		e.t.Fatalf("response is not JSON: %q", got.body)
	}
	if exact {
		if !reflect.DeepEqual(w, g) {
			e.t.Fatalf("body = %s, want %s", got.body, want)
		}
		return
	}
	if err := subset(w, g, "$"); err != nil {
		e.t.Fatalf("%v\nbody: %s", err, got.body)
	}
}

// step is one request of a table-driven scenario.
type step struct {
	method, path, body string
	status             int
	want               string
	exact              bool
}

func (e *env) steps(steps []step) {
	e.t.Helper()
	for i, s := range steps {
		got := e.do(s.method, s.path, s.body)
		func() {
			e.t.Helper()
			defer func() {
				if e.t.Failed() {
					e.t.Logf("step %d: %s %s", i, s.method, s.path)
				}
			}()
			e.expect(got, s.status, s.want, s.exact)
		}()
	}
}

func subset(want, got any, at string) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want an object", at, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: missing", at, k)
			}
			if err := subset(wv, gv, at+"."+k); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: got %v, want %v", at, got, want)
		}
		return nil
	}
}

// decode parses a JSON response body.
func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %q", body)
	}
	return m
}

// needReferences skips tests of referential integrity until model.References is implemented.
func needReferences(t *testing.T) {
	t.Helper()
	if len(model.References(model.Routes, map[string]any{"upstream_id": "1"})) == 0 {
		t.Skip("model.References does not report references yet")
	}
}

// newKeyring returns the default keyring, skipping while internal/encryption is a stub.
func newKeyring(t *testing.T) (k *encryption.Keyring) {
	t.Helper()
	defer func() {
		if recover() != nil {
			t.Skip("internal/encryption is not implemented yet")
		}
	}()
	k, err := encryption.NewKeyring(encryption.DefaultKeyring)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	return k
}

const route1 = `{"uri":"/index.html","upstream":{"type":"roundrobin","nodes":{"127.0.0.1:8080":1}}}`
const upstream1 = `{"type":"roundrobin","nodes":{"127.0.0.1:8080":1}}`
