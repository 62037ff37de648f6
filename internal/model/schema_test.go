package model

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"
)

// testCA is a freshly generated self-signed certificate, JSON-escaped for embedding.
var testCA, testKey = func() (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<33, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	esc := func(b []byte) string { return strings.ReplaceAll(string(b), "\n", `\n`) }
	return esc(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		esc(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}()

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestResourceSchemaFields pins every resource schema's field set and defaults, so a dropped
// or renamed field fails here.
func TestResourceSchemaFields(t *testing.T) {
	c := newTestChecker(t)
	meta := "create_time,desc,id,labels,name,update_time"
	tests := []struct {
		kind     Kind
		fields   string
		defaults map[string]any
		required string
	}{
		{Routes, meta + ",enable_websocket,filter_func,host,hosts,methods,plugin_config_id,plugins,priority,remote_addr,remote_addrs,script,script_id,service_id,status,timeout,upstream,upstream_id,uri,uris,vars",
			map[string]any{"priority": 0.0, "status": 1.0}, ""},
		{Services, meta + ",enable_websocket,hosts,plugins,script,upstream,upstream_id", nil, ""},
		{Upstreams, meta + ",checks,discovery_args,discovery_type,hash_on,keepalive_pool,key,nodes,pass_host,retries,retry_timeout,scheme,service_name,timeout,tls,type,upstream_host",
			map[string]any{"type": "roundrobin", "hash_on": "vars", "pass_host": "pass", "scheme": "http"}, ""},
		{Consumers, "create_time,desc,group_id,labels,plugins,update_time,username", nil, "username"},
		{Credentials, meta + ",plugins", nil, ""},
		{ConsumerGroups, meta + ",plugins", nil, "id,plugins"},
		{SSLs, "cert,certs,client,create_time,desc,id,key,keys,labels,sni,snis,ssl_protocols,status,type,update_time,validity_end,validity_start",
			map[string]any{"type": "server", "status": 1.0}, ""},
		{GlobalRules, "create_time,id,plugins,update_time", nil, "id,plugins"},
		{PluginConfigs, meta + ",plugins", nil, "id,plugins"},
		{StreamRoutes, meta + ",plugins,protocol,remote_addr,server_addr,server_port,service_id,sni,upstream,upstream_id", nil, ""},
		{Protos, meta + ",content", nil, "content"},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			raw, ok := c.ResourceSchema(tc.kind)
			if !ok {
				t.Fatal("no schema")
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			props := doc["properties"].(map[string]any)
			var fields []string
			defaults := map[string]any{}
			for name, p := range props {
				fields = append(fields, name)
				if d, ok := p.(map[string]any)["default"]; ok {
					defaults[name] = d
				}
			}
			if got := strings.Join(sortedCopy(fields), ","); got != strings.Join(sortedCopy(strings.Split(tc.fields, ",")), ",") {
				t.Errorf("fields\n got  %s\n want %s", got, tc.fields)
			}
			if len(defaults) != len(tc.defaults) {
				t.Errorf("defaults = %v, want %v", defaults, tc.defaults)
			}
			for k, v := range tc.defaults {
				if defaults[k] != v {
					t.Errorf("default %s = %v, want %v", k, defaults[k], v)
				}
			}
			var req []string
			if r, ok := doc["required"].([]any); ok {
				for _, x := range r {
					req = append(req, x.(string))
				}
			}
			if got := strings.Join(sortedCopy(req), ","); got != tc.required {
				t.Errorf("required = %s, want %s", got, tc.required)
			}
		})
	}
}

// TestHealthCheckDefaults pins the checks defaults APISIX fills into a stored upstream.
func TestHealthCheckDefaults(t *testing.T) {
	c := newTestChecker(t)
	obj := decode(t, `{"nodes":{"a:80":1},"keepalive_pool":{},"checks":{
		"active":{"healthy":{},"unhealthy":{}},"passive":{"healthy":{},"unhealthy":{}}}}`)
	if err := c.Check(Upstreams, "1", obj); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(obj["checks"])
	want := `{"active":{"concurrency":10,"healthy":{"http_statuses":[200,302],"interval":1,"successes":2},` +
		`"http_method":"GET","http_path":"/","http_req_body":"","https_verify_certificate":true,"timeout":1,"type":"http",` +
		`"unhealthy":{"http_failures":5,"http_statuses":[429,404,500,501,502,503,504,505],"interval":1,"tcp_failures":2,"timeouts":3}},` +
		`"passive":{"healthy":{"http_statuses":[200,201,202,203,204,205,206,207,208,226,300,301,302,303,304,305,306,307,308],"successes":5},` +
		`"type":"http","unhealthy":{"http_failures":5,"http_statuses":[429,500,503],"tcp_failures":2,"timeouts":7}}}`
	if string(got) != want {
		t.Errorf("checks\n got  %s\n want %s", got, want)
	}
	pool, _ := json.Marshal(obj["keepalive_pool"])
	if string(pool) != `{"idle_timeout":60,"requests":1000,"size":320}` {
		t.Errorf("keepalive_pool = %s", pool)
	}
}

func TestSSLWithRealCert(t *testing.T) {
	c := newTestChecker(t)
	tests := []struct{ obj, want string }{
		{`{"sni":"a.com","cert":"` + testCA + `","key":"` + testKey + `"}`, ""},
		{`{"type":"client","cert":"` + testCA + `","key":"` + testKey + `"}`, ""},
		{`{"sni":"a.com","cert":"` + testCA + `","key":"` + strings.Repeat("k", 128) + `"}`,
			"failed to parse key: PEM_read_bio_PrivateKey() failed"},
		{`{"sni":"a.com","cert":"` + testCA + `","key":"` + testKey + `","certs":["` + testCA + `"]}`,
			"mismatched number of certs and keys"},
		{`{"sni":"a.com","cert":"` + testCA + `","key":"` + testKey + `","certs":["` + testCA + `"],"keys":["` + strings.Repeat("k", 128) + `"]}`,
			"failed to handle cert-key pair[1]: failed to parse key: PEM_read_bio_PrivateKey() failed"},
		{`{"sni":"a.com","cert":"` + testCA + `","key":"` + testKey + `","client":{"ca":"` + strings.Repeat("c", 128) + `"}}`,
			"failed to validate client_cert: failed to parse cert: PEM_read_bio_X509_AUX() failed"},
		{`{"sni":"a.com","cert":"` + testCA + `","key":"` + testKey + `","client":{"ca":"` + testCA + `","skip_mtls_uri_regex":["/a(?<=b)"]}}`,
			`failed to validate skip_mtls_uri_regex: invalid regex "/a(?<=b)": lookbehind "(?<=" is a PCRE-only construct; Sluice uses RE2 regular expressions`},
	}
	for i, tc := range tests {
		err := c.Check(SSLs, "1", decode(t, tc.obj))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("case %d: got %q, want %q", i, got, tc.want)
		}
	}
}
