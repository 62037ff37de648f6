package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/store"
)

func init() {
	register(
		suiteCase{"RouteEnvelopes", testRouteEnvelopes},
		suiteCase{"EveryResourceCRUD", testEveryResourceCRUD},
		suiteCase{"MethodsTable405", testMethodsTable},
		suiteCase{"PostGeneratesIDs", testPostIDs},
		suiteCase{"IDRules", testIDRules},
		suiteCase{"Timestamps", testTimestamps},
		suiteCase{"BodyErrors", testBodyErrors},
		suiteCase{"TTL", testTTL},
		suiteCase{"Consumers", testConsumers},
		suiteCase{"StreamModeDisabled", testStreamDisabled},
		suiteCase{"Routing", testRouting},
		suiteCase{"SSLKeysNeverShown", testSSLStripped},
		suiteCase{"Secrets", testSecrets},
	)
}

func testRouteEnvelopes(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"GET", "/apisix/admin/routes", "", 200, `{"list":[],"total":0}`, true},
		{"PUT", "/apisix/admin/routes/1", route1, 201, `{"key":"{P}/routes/1","value":{"id":"1","uri":"/index.html","upstream":{"nodes":{"127.0.0.1:8080":1}}}}`, false},
		{"PUT", "/apisix/admin/routes/1", route1, 200, `{"key":"{P}/routes/1","value":{"id":"1"}}`, false},
		{"GET", "/apisix/admin/routes/1", "", 200, `{"key":"{P}/routes/1","value":{"id":"1","uri":"/index.html"}}`, false},
		{"DELETE", "/apisix/admin/routes/1", "", 200, `{"deleted":"1","key":"{P}/routes/1"}`, true},
		{"GET", "/apisix/admin/routes/1", "", 404, `{"message":"Key not found"}`, true},
		{"DELETE", "/apisix/admin/routes/1", "", 404, `{"message":"Key not found"}`, true},
		{"DELETE", "/apisix/admin/routes", "", 400, `{"error_msg":"missing route id"}`, true},
	})

	// Single GET carries the etcd revisions; a write answer does not.
	put := e.do("PUT", "/apisix/admin/routes/2", route1)
	if m := decode(t, put.body); len(m) != 2 || m["key"] == nil || m["value"] == nil {
		t.Fatalf("PUT envelope = %s, want exactly key and value", put.body)
	}
	if put.header.Get("X-API-VERSION") != "v3" || put.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", put.header)
	}
	got := decode(t, e.do("GET", "/apisix/admin/routes/2", "").body)
	kv, err := st.Get(context.Background(), prefix+"/routes/2")
	if err != nil {
		t.Fatal(err)
	}
	if got["createdIndex"] != float64(kv.CreateRevision) || got["modifiedIndex"] != float64(kv.ModRevision) {
		t.Fatalf("indexes = %v/%v, want %d/%d", got["createdIndex"], got["modifiedIndex"], kv.CreateRevision, kv.ModRevision)
	}
	list := decode(t, e.do("GET", "/apisix/admin/routes", "").body)
	items := list["list"].([]any)
	if list["total"] != float64(1) || len(items) != 1 {
		t.Fatalf("list = %v", list)
	}
	if err := subset(map[string]any{"key": prefix + "/routes/2", "createdIndex": float64(kv.CreateRevision)}, items[0], "$"); err != nil {
		t.Fatal(err)
	}
	// HTML is not escaped, as cjson does not.
	e.expect(e.do("PUT", "/apisix/admin/routes/3", `{"uri":"/a","desc":"<b>&</b>","upstream":`+upstream1+`}`), 201, "", false)
	if body := e.do("GET", "/apisix/admin/routes/3", "").body; !strings.Contains(body, `"desc":"<b>&</b>"`) {
		t.Fatalf("HTML escaped in %s", body)
	}
}

// resourceFixtures are valid objects of every kind, at the paths a PUT creates them.
func resourceFixtures(t *testing.T) []struct{ path, key, body string } {
	cert, key := selfSigned(t, "test.com")
	ssl, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"test.com"}})
	return []struct{ path, key, body string }{
		{"routes/r1", "routes/r1", route1},
		{"services/s1", "services/s1", `{"upstream":` + upstream1 + `}`},
		{"upstreams/u1", "upstreams/u1", upstream1},
		{"consumers/jack", "consumers/jack", `{"username":"jack"}`},
		{"consumers/jack/credentials/c1", "consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"k-c1"}}}`},
		{"consumer_groups/g1", "consumer_groups/g1", `{"plugins":{"limit-count":{"count":2,"time_window":60}}}`},
		{"ssls/ssl1", "ssls/ssl1", string(ssl)},
		{"global_rules/gr1", "global_rules/gr1", `{"plugins":{"limit-count":{"count":2,"time_window":60}}}`},
		{"plugin_configs/pc1", "plugin_configs/pc1", `{"plugins":{"limit-count":{"count":2,"time_window":60}}}`},
		{"plugin_metadata/http-logger", "plugin_metadata/http-logger", `{"log_format":{"host":"$host"}}`},
		{"stream_routes/sr1", "stream_routes/sr1", `{"server_port":9100,"upstream":` + upstream1 + `}`},
		{"protos/p1", "protos/p1", `{"content":"syntax = \"proto3\"; package hello; message A { string n = 1; }"}`},
		{"secrets/vault/v1", "secrets/vault/v1", `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix","token":"root"}`},
	}
}

func testEveryResourceCRUD(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	fixtures := resourceFixtures(t)
	for _, f := range fixtures {
		e.expect(e.do("PUT", "/apisix/admin/"+f.path, f.body), 201, `{"key":"{P}/`+f.key+`"}`, false)
	}
	for _, f := range fixtures {
		got := e.do("GET", "/apisix/admin/"+f.path, "")
		e.expect(got, 200, `{"key":"{P}/`+f.key+`"}`, false)
		v := decode(t, got.body)["value"].(map[string]any)
		if _, ok := v["update_time"]; ok == strings.HasPrefix(f.path, "plugin_metadata") {
			t.Errorf("%s: update_time present = %v (plugin_metadata has none)", f.path, ok)
		}
		dir := f.path[:strings.LastIndex(f.path, "/")]
		list := decode(t, e.do("GET", "/apisix/admin/"+dir, "").body)
		if list["total"] != float64(1) {
			t.Errorf("GET %s: total = %v, want 1 (credentials are not consumers)", dir, list["total"])
		}
	}
	// Delete in reverse so the credential goes before its consumer.
	for i := len(fixtures) - 1; i >= 0; i-- {
		f := fixtures[i]
		e.expect(e.do("DELETE", "/apisix/admin/"+f.path, ""), 200, `{"deleted":"1","key":"{P}/`+f.key+`"}`, true)
		e.expect(e.do("GET", "/apisix/admin/"+f.path, ""), 404, `{"message":"Key not found"}`, true)
	}
	// POST is allowed (201) where the methods table says so.
	for _, p := range []struct{ dir, body string }{
		{"routes", route1}, {"services", `{"upstream":` + upstream1 + `}`}, {"upstreams", upstream1},
		{"ssls", fixtures[6].body}, {"stream_routes", fixtures[10].body}, {"protos", fixtures[11].body},
	} {
		e.expect(e.do("POST", "/apisix/admin/"+p.dir, p.body), 201, "", false)
	}
}

func testMethodsTable(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	for _, c := range []struct{ method, path, kind string }{
		{"POST", "/apisix/admin/consumers", "consumer"},
		{"PATCH", "/apisix/admin/consumers/jack", "consumer"},
		{"POST", "/apisix/admin/consumers/jack/credentials", "credential"},
		{"PATCH", "/apisix/admin/consumers/jack/credentials/c1", "credential"},
		{"POST", "/apisix/admin/consumer_groups", "consumer group"},
		{"POST", "/apisix/admin/global_rules", "global rule"},
		{"POST", "/apisix/admin/plugin_configs", "plugin config"},
		{"POST", "/apisix/admin/plugin_metadata/http-logger", "plugin_metadata"},
		{"PATCH", "/apisix/admin/plugin_metadata/http-logger", "plugin_metadata"},
		{"PATCH", "/apisix/admin/stream_routes/1", "stream route"},
		{"PATCH", "/apisix/admin/protos/1", "proto"},
		{"POST", "/apisix/admin/secrets/vault", "secret"},
	} {
		want := fmt.Sprintf(`{"error_msg":"not supported `+"`%s`"+` method for %s"}`, c.method, c.kind)
		e.expect(e.do(c.method, c.path, `{"a":1}`), 405, want, true)
	}
}

var genIDPattern = regexp.MustCompile(`^\d{20}$`)

func testPostIDs(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	var ids []string
	for range 2 {
		got := e.do("POST", "/apisix/admin/routes", route1)
		e.expect(got, 201, "", false)
		m := decode(t, got.body)
		id, _ := m["value"].(map[string]any)["id"].(string)
		if !genIDPattern.MatchString(id) || m["key"] != prefix+"/routes/"+id {
			t.Fatalf("POST answer %s: id must be 20 digits and the key end with it", got.body)
		}
		ids = append(ids, id)
	}
	if ids[1] <= ids[0] {
		t.Fatalf("ids %v do not increase", ids)
	}
	e.expect(e.do("POST", "/apisix/admin/routes", `{"id":"1","uri":"/a","upstream":`+upstream1+`}`),
		400, `{"error_msg":"wrong route id, do not need it"}`, true)
	e.expect(e.do("POST", "/apisix/admin/routes/5", route1), 400, `{"error_msg":"wrong route id, do not need it"}`, true)
}

func testIDRules(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	long := strings.Repeat("a", 65)
	e.steps([]step{
		{"PUT", "/apisix/admin/routes/1", `{"id":"2","uri":"/a","upstream":` + upstream1 + `}`, 400, `{"error_msg":"wrong route id"}`, true},
		{"PUT", "/apisix/admin/routes/1", `{"id":1,"uri":"/a","upstream":` + upstream1 + `}`, 201, `{"value":{"id":"1"}}`, false},
		{"PUT", "/apisix/admin/routes", route1, 400, `{"error_msg":"missing route id"}`, true},
		{"PUT", "/apisix/admin/upstreams", upstream1, 400, `{"error_msg":"missing upstream id"}`, true},
		{"PUT", "/apisix/admin/routes", `{"id":"b-c.D_9","uri":"/a","upstream":` + upstream1 + `}`, 201, `{"key":"{P}/routes/b-c.D_9"}`, false},
		{"PUT", "/apisix/admin/routes/*invalid", route1, 400, "", false},
		{"PUT", "/apisix/admin/routes/" + long, route1, 400, "", false},
		{"PUT", "/apisix/admin/routes/a-b-c-ABC_0123", route1, 201, "", false},
	})
}

func testTimestamps(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","create_time":1602883670,"upstream":` + upstream1 + `}`, 400,
			`{"error_msg":"the property is forbidden:  create_time"}`, true},
		{"POST", "/apisix/admin/routes", `{"uri":"/a","update_time":1602883670,"upstream":` + upstream1 + `}`, 400,
			`{"error_msg":"the property is forbidden:  update_time"}`, true},
		{"PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream":{"update_time":1,"type":"roundrobin","nodes":{"127.0.0.1:8080":1}}}`, 400,
			`{"error_msg":"the property is forbidden:  upstream.update_time"}`, true},
	})
	before := time.Now().Unix()
	v := decode(t, e.do("PUT", "/apisix/admin/routes/1", route1).body)["value"].(map[string]any)
	ct, ut := v["create_time"].(float64), v["update_time"].(float64)
	if int64(ct) < before || int64(ut) < before {
		t.Fatalf("create_time %v update_time %v, want now (%d)", ct, ut, before)
	}
	// Age the stored create_time, then replace: the original creation time must survive.
	kv, _ := st.Get(context.Background(), prefix+"/routes/1")
	var stored map[string]any
	_ = json.Unmarshal(kv.Value, &stored)
	stored["create_time"] = 100
	raw, _ := json.Marshal(stored)
	if _, _, err := st.Put(context.Background(), prefix+"/routes/1", raw, store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("PUT", "/apisix/admin/routes/1", route1), 200, `{"value":{"create_time":100}}`, false)
}

func testBodyErrors(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	got := e.do("PUT", "/apisix/admin/routes/1", `{"uri":`)
	e.expect(got, 400, `{"req_body":"{\"uri\":"}`, false)
	if msg := decode(t, got.body)["error_msg"].(string); !strings.HasPrefix(msg, "invalid request body: ") {
		t.Fatalf("error_msg = %q", msg)
	}
	big := `{"uri":"/a","desc":"` + strings.Repeat("a", 1024*1024*16/10) + `","upstream":` + upstream1 + `}`
	e.expect(e.do("PUT", "/apisix/admin/routes/1", big), 400, fmt.Sprintf(
		`{"error_msg":"invalid request body: request size %d is greater than the maximum size 1572864 allowed"}`, len(big)), true)
	// A chunked body has no Content-Length; the limit still holds.
	chunked := e.doWith("PUT", "/apisix/admin/routes/1", big, func(r *http.Request) {
		r.Header.Set("X-API-KEY", adminKey)
		r.ContentLength = -1
	})
	e.expect(chunked, 400, fmt.Sprintf(
		`{"error_msg":"invalid request body: request size %d is greater than the maximum size 1572864 allowed"}`, len(big)), true)
	e.steps([]step{
		{"PUT", "/apisix/admin/routes/1", "", 400, `{"error_msg":"missing configurations"}`, true},
		{"POST", "/apisix/admin/routes", "", 400, `{"error_msg":"missing configurations"}`, true},
		{"PUT", "/apisix/admin/routes/1", `"abc"`, 400, `{"error_msg":"invalid configuration: wrong type: expected object, got string"}`, true},
	})
}

func testTTL(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/routes/1?ttl=xxx", route1, 400, `{"error_msg":"invalid argument ttl: should be a number"}`, true},
		{"PUT", "/apisix/admin/routes?ttl=xxx", route1, 400, `{"error_msg":"invalid argument ttl: should be a number"}`, true},
		{"PUT", "/apisix/admin/routes/1?ttl=60", route1, 201, "", false},
		{"PUT", "/apisix/admin/routes/2", route1, 201, "", false},
	})
	withTTL, _ := st.Get(context.Background(), prefix+"/routes/1")
	without, _ := st.Get(context.Background(), prefix+"/routes/2")
	if withTTL.Lease == 0 || without.Lease != 0 {
		t.Fatalf("leases = %d (ttl=60) and %d (no ttl)", withTTL.Lease, without.Lease)
	}
	// A one-second lease really expires.
	e.expect(e.do("POST", "/apisix/admin/routes?ttl=1", route1), 201, "", false)
	e.expect(e.do("PUT", "/apisix/admin/routes/3?ttl=1", route1), 201, "", false)
	deadline := time.Now().Add(10 * time.Second)
	for e.do("GET", "/apisix/admin/routes/3", "").status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("route with ttl=1 still present after 10s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func testConsumers(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"PUT", "/apisix/admin/consumers", `{"username":"jack","desc":"d"}`, 201, `{"key":"{P}/consumers/jack","value":{"username":"jack","desc":"d"}}`, false},
		{"PUT", "/apisix/admin/consumers/jack", `{"username":"rose"}`, 400, `{"error_msg":"wrong username"}`, true},
		{"PUT", "/apisix/admin/consumers/jack", `{"username":"jack"}`, 200, "", false},
		{"PUT", "/apisix/admin/consumers/nobody/credentials/c1", `{"plugins":{"key-auth":{"key":"x"}}}`, 404, `{"error_msg":"consumer not found"}`, true},
		{"PUT", "/apisix/admin/consumers/jack/credentials", `{"plugins":{"key-auth":{"key":"x"}}}`, 400, `{"error_msg":"missing credential id"}`, true},
		{"PUT", "/apisix/admin/consumers/jack/credentials/c1", `{"plugins":{"key-auth":{"key":"x"}}}`, 201, `{"key":"{P}/consumers/jack/credentials/c1","value":{"id":"c1"}}`, false},
		{"GET", "/apisix/admin/consumers/jack/credentials", "", 200, `{"total":1}`, false},
		{"GET", "/apisix/admin/consumers/jack/credentials/c1", "", 200, `{"key":"{P}/consumers/jack/credentials/c1"}`, false},
		{"GET", "/apisix/admin/consumers", "", 200, `{"total":1}`, false},
	})
	if v := decode(t, e.do("GET", "/apisix/admin/consumers/jack", "").body)["value"].(map[string]any); v["id"] != nil {
		t.Fatalf("consumer value has an id: %v", v)
	}
	e.expect(e.do("DELETE", "/apisix/admin/consumers/jack", ""), 200, `{"deleted":"1","key":"{P}/consumers/jack"}`, true)
	if kvs, _, _ := st.List(context.Background(), prefix+"/consumers/"); len(kvs) != 0 {
		t.Fatalf("deleting the consumer left %d keys (its credentials)", len(kvs))
	}
}

func testStreamDisabled(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix, func(o *Options) { o.StreamMode = false })
	for _, m := range []string{"GET", "PUT", "POST", "DELETE"} {
		e.expect(e.do(m, "/apisix/admin/stream_routes/1", `{"server_port":1}`), 400,
			`{"error_msg":"stream mode is disabled, can not add stream routes"}`, true)
	}
}

func testRouting(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	e.steps([]step{
		{"GET", "/apisix/admin/routs", "", 404, `{"error_msg":"Unsupported resource type: routs"}`, true},
		{"PUT", "/apisix/admin/routs/1", route1, 404, `{"error_msg":"Unsupported resource type: routs"}`, true},
		{"PUT", "/apisix/admin/schema/route", "{}", 404, `{"error_msg":"not found"}`, true},
	})
	head := e.doWith("HEAD", "/apisix/admin", "", nil)
	if head.status != 200 {
		t.Fatalf("HEAD /apisix/admin = %d", head.status)
	}
}

func testSSLStripped(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	cert, key := selfSigned(t, "a.test.com")
	body, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "sni": "a.test.com"})
	e.expect(e.do("PUT", "/apisix/admin/ssls/1", string(body)), 201, "", false)
	single := decode(t, e.do("GET", "/apisix/admin/ssls/1", "").body)["value"].(map[string]any)
	list := decode(t, e.do("GET", "/apisix/admin/ssls", "").body)["list"].([]any)
	listed := list[0].(map[string]any)["value"].(map[string]any)
	for _, v := range []map[string]any{single, listed} {
		if _, ok := v["key"]; ok {
			t.Fatalf("GET shows the private key: %v", v)
		}
		if s, _ := v["cert"].(string); !strings.Contains(s, "BEGIN CERTIFICATE") {
			t.Fatalf("GET lost the certificate: %v", v)
		}
	}
}

func testSecrets(t *testing.T, st store.Store, prefix string) {
	e := newEnv(t, st, prefix)
	vault := `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix","token":"root"}`
	e.steps([]step{
		{"PUT", "/apisix/admin/secrets/foo/1", vault, 400, `{"error_msg":"invalid secret manager: foo"}`, true},
		{"PUT", "/apisix/admin/secrets/vault/1", vault, 201, `{"key":"{P}/secrets/vault/1","value":{"id":"vault/1"}}`, false},
		{"GET", "/apisix/admin/secrets/vault/1", "", 200, `{"value":{"id":"vault/1","uri":"http://127.0.0.1:8200"}}`, false},
		{"GET", "/apisix/admin/secrets", "", 200, `{"total":1}`, false},
		{"PATCH", "/apisix/admin/secrets/vault/1", `{"token":"t2"}`, 200, `{"value":{"token":"t2"}}`, false},
		{"PATCH", "/apisix/admin/secrets/vault/1/prefix", `"kv/other"`, 200, `{"value":{"prefix":"kv/other"}}`, false},
		{"PATCH", "/apisix/admin/secrets/vault", `{"token":"t2"}`, 400, `{"error_msg":"no secret id"}`, true},
		{"DELETE", "/apisix/admin/secrets/vault/1", "", 200, `{"deleted":"1","key":"{P}/secrets/vault/1"}`, true},
	})
}

// selfSigned returns a PEM certificate and key for host.
func selfSigned(t *testing.T, host string) (string, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}
