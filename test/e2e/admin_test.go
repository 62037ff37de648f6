package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate and key for host.
func selfSigned(t testing.TB, host string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

// resourceCase is one resource type of the Admin API methods table (reference §2).
type resourceCase struct {
	path    string // collection path under /apisix/admin
	id      string
	body    string
	post    bool // POST (auto id) allowed
	patch   bool
	patchTo string // a PATCH body
}

func resourceCases(t testing.TB) []resourceCase {
	cert, key := selfSigned(t, "test.com")
	ssl, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"test.com"}})
	return []resourceCase{
		{path: "/upstreams", id: "1", body: `{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`, post: true, patch: true, patchTo: `{"desc":"patched"}`},
		{path: "/services", id: "1", body: `{"upstream_id":"1"}`, post: true, patch: true, patchTo: `{"desc":"patched"}`},
		{path: "/routes", id: "1", body: `{"uri":"/hello","service_id":"1"}`, post: true, patch: true, patchTo: `{"desc":"patched"}`},
		{path: "/ssls", id: "1", body: string(ssl), post: true, patch: true, patchTo: `{"desc":"patched"}`},
		{path: "/consumer_groups", id: "g1", body: `{"plugins":{"limit-count":{"count":2,"time_window":60,"key":"remote_addr"}}}`, patch: true, patchTo: `{"desc":"patched"}`},
		{path: "/consumers", id: "jack", body: `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`},
		{path: "/consumers/jack/credentials", id: "c1", body: `{"plugins":{"key-auth":{"key":"auth-two"}}}`},
		{path: "/global_rules", id: "1", body: `{"plugins":{"prometheus":{}}}`, patch: true, patchTo: `{"plugins":{"prometheus":{"prefer_name":true}}}`},
		{path: "/plugin_configs", id: "1", body: `{"plugins":{"cors":{}}}`, patch: true, patchTo: `{"desc":"patched"}`},
		{path: "/plugin_metadata", id: "http-logger", body: `{"log_format":{"host":"$host"}}`},
		{path: "/protos", id: "1", body: `{"content":"syntax = \"proto3\"; package hw; message R { string n = 1; }"}`, post: true},
		{path: "/secrets/vault", id: "1", body: `{"uri":"http://127.0.0.1:8200","prefix":"kv/apisix","token":"root"}`, patch: true, patchTo: `{"token":"root2"}`},
	}
}

var postID = regexp.MustCompile(`^/apisix/[a-z_]+/\d{20}$`)

// walkResources drives every resource type through the methods of reference §2's table.
func walkResources(t *testing.T, n *node, key string) {
	for _, c := range resourceCases(t) {
		t.Run(strings.TrimPrefix(c.path, "/"), func(t *testing.T) {
			one := c.path + "/" + c.id
			r := do(t, "PUT", n.adminURL(one), key, c.body)
			if r.Status != 201 {
				t.Fatalf("PUT %s: %d %s", one, r.Status, r.Body)
			}
			if r.Header.Get("X-API-VERSION") != "v3" {
				t.Errorf("X-API-VERSION = %q", r.Header.Get("X-API-VERSION"))
			}
			if r = do(t, "PUT", n.adminURL(one), key, c.body); r.Status != 200 {
				t.Errorf("PUT again (replace): %d %s", r.Status, r.Body)
			}
			r = do(t, "GET", n.adminURL(one), key, "")
			if r.Status != 200 {
				t.Fatalf("GET %s: %d %s", one, r.Status, r.Body)
			}
			var env map[string]any
			json.Unmarshal([]byte(r.Body), &env)
			for _, f := range []string{"key", "value", "createdIndex", "modifiedIndex"} {
				if _, ok := env[f]; !ok {
					t.Errorf("GET envelope lacks %q: %s", f, r.Body)
				}
			}
			if c.path == "/ssls" && strings.Contains(r.Body, "PRIVATE KEY") {
				t.Errorf("GET ssl shows the private key")
			}
			r = do(t, "GET", n.adminURL(c.path), key, "")
			if r.Status != 200 || !strings.Contains(r.Body, `"total":1`) {
				t.Errorf("GET list: %d %s", r.Status, r.Body)
			}

			r = do(t, "POST", n.adminURL(c.path), key, c.body)
			if c.post {
				if r.Status != 201 {
					t.Errorf("POST: %d %s", r.Status, r.Body)
				} else {
					var env struct{ Key string }
					json.Unmarshal([]byte(r.Body), &env)
					if !postID.MatchString(env.Key) {
						t.Errorf("POST key %q: want a 20-digit id", env.Key)
					}
					if d := do(t, "DELETE", n.adminURL(strings.TrimPrefix(env.Key, "/apisix")), key, ""); d.Status != 200 {
						t.Errorf("DELETE posted: %d %s", d.Status, d.Body)
					}
				}
			} else if r.Status != 405 {
				t.Errorf("POST on %s: want 405, got %d %s", c.path, r.Status, r.Body)
			}

			patchBody := c.patchTo
			if patchBody == "" {
				patchBody = "{}"
			}
			r = do(t, "PATCH", n.adminURL(one), key, patchBody)
			if c.patch {
				if r.Status != 200 {
					t.Errorf("PATCH: %d %s", r.Status, r.Body)
				}
			} else if r.Status != 405 {
				t.Errorf("PATCH on %s: want 405, got %d %s", c.path, r.Status, r.Body)
			}
		})
	}
	// Delete in reverse dependency order; then they are gone.
	cases := resourceCases(t)
	for i := len(cases) - 1; i >= 0; i-- {
		one := cases[i].path + "/" + cases[i].id
		if cases[i].path == "/consumers/jack/credentials" {
			continue // deleted with its consumer
		}
		r := do(t, "DELETE", n.adminURL(one), key, "")
		if r.Status != 200 || !strings.Contains(r.Body, `"deleted"`) {
			t.Errorf("DELETE %s: %d %s", one, r.Status, r.Body)
		}
		r = do(t, "GET", n.adminURL(one), key, "")
		if r.Status != 404 || !strings.Contains(r.Body, `"message":"Key not found"`) {
			t.Errorf("GET deleted %s: %d %s", one, r.Status, r.Body)
		}
	}
	if r := do(t, "GET", n.adminURL("/consumers/jack/credentials/c1"), key, ""); r.Status != 404 {
		t.Errorf("credential survived its consumer: %d %s", r.Status, r.Body)
	}
	// stream_routes answer 400 while stream mode is off.
	r := do(t, "PUT", n.adminURL("/stream_routes/1"), key, `{"server_port":9100,"upstream":{"nodes":{"127.0.0.1:1995":1},"type":"roundrobin"}}`)
	if r.Status != 400 || !strings.Contains(r.Body, "stream mode is disabled") {
		t.Errorf("stream_routes with stream off: %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", n.adminURL("/routs"), key, "")
	if r.Status != 404 || !strings.Contains(r.Body, "Unsupported resource type: routs") {
		t.Errorf("unknown resource: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", n.adminURL("/routes/2"), key, `{"uri":"/x","upstream_id":"404"}`)
	if r.Status != 400 || !strings.Contains(r.Body, "failed to fetch upstream info by upstream id [404]") {
		t.Errorf("dangling upstream_id: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", n.adminURL("/routes/2"), key, `{"uri":"/x","plugins":{"no-such-plugin":{}}}`)
	if r.Status != 400 || !strings.Contains(r.Body, "unknown plugin [no-such-plugin]") {
		t.Errorf("unknown plugin: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", n.adminURL("/routes/2"), key, `{"uri":"/x","upstream":{"nodes":{"127.0.0.1:1980":1},"type":"chash"}}`)
	if r.Status != 400 {
		t.Errorf("chash without key: %d %s", r.Status, r.Body)
	}
}

// TestAdminResourcesEmbedded runs the methods table through the binary on its embedded etcd.
func TestAdminResourcesEmbedded(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	walkResources(t, n, configuredKey)
}
