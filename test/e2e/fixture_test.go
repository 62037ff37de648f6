package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/etcd/etcdtest"
)

// loadFixture writes the APISIX 3.18 etcd dump into s and returns the decrypted objects.
func loadFixture(t *testing.T, s store.Store) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "apisix-3.18", "etcd.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dump []struct{ Key, Value string }
	if err := json.Unmarshal(raw, &dump); err != nil {
		t.Fatal(err)
	}
	for _, kv := range dump {
		if _, _, err := s.Put(context.Background(), kv.Key, []byte(kv.Value), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err = os.ReadFile(filepath.Join("..", "..", "testdata", "apisix-3.18", "plain.json"))
	if err != nil {
		t.Fatal(err)
	}
	var plain map[string]map[string]any
	if err := json.Unmarshal(raw, &plain); err != nil {
		t.Fatal(err)
	}
	return plain
}

// TestAPISIXEtcdData: Sluice, pointed at an external etcd (Debian's etcd-server) that APISIX
// 3.18 wrote, serves every object through the Admin API with its secrets decrypted, and
// encrypts what it writes the way APISIX does. No embedded etcd starts in this mode.
func TestAPISIXEtcdData(t *testing.T) {
	s, endpoints, _ := etcdtest.StartExternal(t)
	plain := loadFixture(t, s)

	p := newPorts(t)
	etcdCfg := "  etcd:\n    host:\n      - " + endpoints[0] + "\n    prefix: /apisix\n"
	cfg := strings.Replace(p.configYAML(keyConfig(), ""), "  etcd:\n", etcdCfg+"  x_unused_etcd:\n", 1)
	n := startNode(t, p, cfg, "")
	if _, err := os.Stat(filepath.Join(n.dataDir, "etcd")); err == nil {
		t.Errorf("an embedded etcd started although deployment.etcd.host is set")
	}

	for key, want := range plain {
		r := do(t, "GET", n.adminURL(strings.TrimPrefix(key, "/apisix")), configuredKey, "")
		if r.Status != 200 {
			t.Errorf("GET %s: %d %s", key, r.Status, r.Body)
			continue
		}
		var env struct {
			Key   string         `json:"key"`
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		if strings.HasPrefix(key, "/apisix/ssls/") {
			delete(want, "key")
			delete(want, "keys")
		}
		if env.Key != key || !reflect.DeepEqual(env.Value, want) {
			t.Errorf("GET %s:\n got %v\nwant %v", key, env.Value, want)
		}
	}

	// Lists skip the init_dir placeholders; consumers do not list credentials.
	for path, total := range map[string]string{"/routes": `"total":4`, "/consumers": `"total":3`, "/upstreams": `"total":2`, "/protos": `"total":0`} {
		if r := do(t, "GET", n.adminURL(path), configuredKey, ""); r.Status != 200 || !strings.Contains(r.Body, total) {
			t.Errorf("GET %s: %d %s (want %s)", path, r.Status, r.Body, total)
		}
	}

	// A key APISIX already holds cannot be taken by another consumer.
	r := do(t, "PUT", n.adminURL("/consumers"), configuredKey, `{"username":"mallory","plugins":{"key-auth":{"key":"auth-one"}}}`)
	if r.Status != 400 || !strings.Contains(r.Body, "duplicate key of plugin key-auth found with consumer: jack") {
		t.Errorf("duplicate key across APISIX data: %d %s", r.Status, r.Body)
	}

	// What Sluice writes is encrypted exactly as APISIX stored jack's key.
	apisixJack, err := s.Get(context.Background(), "/apisix/consumers/jack")
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, "DELETE", n.adminURL("/consumers/jack"), configuredKey, ""); r.Status != 200 {
		t.Fatalf("DELETE jack: %d %s", r.Status, r.Body)
	}
	r = do(t, "PUT", n.adminURL("/consumers/jill"), configuredKey, `{"username":"jill","plugins":{"key-auth":{"key":"auth-one"}}}`)
	if r.Status != 201 {
		t.Fatalf("PUT jill: %d %s", r.Status, r.Body)
	}
	jill, err := s.Get(context.Background(), "/apisix/consumers/jill")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pluginField(t, jill.Value, "key-auth", "key"), pluginField(t, apisixJack.Value, "key-auth", "key"); got != want || got == "auth-one" {
		t.Errorf("stored key-auth key = %q, want APISIX's ciphertext %q", got, want)
	}
}

func pluginField(t *testing.T, value []byte, plugin, field string) string {
	t.Helper()
	var obj struct {
		Plugins map[string]map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(value, &obj); err != nil {
		t.Fatal(err)
	}
	v, _ := obj.Plugins[plugin][field].(string)
	return v
}
