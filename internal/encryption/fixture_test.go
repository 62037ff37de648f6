package encryption

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

const fixtureDir = "../../testdata/apisix-3.18"

// The fixture's auth plugins, registered only when the real definitions are not linked in (a
// test binary of this package never imports plugins/all).
func init() {
	for name, fields := range map[string][]string{
		"key-auth":   {"key"},
		"basic-auth": {"password"},
		"jwt-auth":   {"secret"},
	} {
		if _, ok := plugin.Lookup(name); !ok {
			plugin.Register(plugin.Definition{Name: name, Type: "auth", EncryptFields: fields})
		}
	}
}

type etcdEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// encryptedInFixture lists the entries whose stored value must differ from the plain one.
var encryptedInFixture = []string{
	"/apisix/consumers/jack",
	"/apisix/consumers/jack/credentials/cred-jack-2",
	"/apisix/consumers/rose",
	"/apisix/consumers/tom",
	"/apisix/ssls/1",
}

func TestFixtureDecryptsToPlain(t *testing.T) {
	entries, plain := loadFixture(t)
	k := mustKeyring(t, DefaultKeyring)

	stored := map[string]string{}
	for _, e := range entries {
		stored[e.Key] = e.Value
	}
	for key, want := range plain {
		t.Run(key, func(t *testing.T) {
			raw, ok := stored[key]
			if !ok {
				t.Fatalf("plain.json key missing from etcd.json")
			}
			kind := kindOf(t, key)

			obj := decode(t, raw)
			k.DecryptObject(kind, obj)
			if !reflect.DeepEqual(obj, want) {
				t.Errorf("decrypted value differs from plain.json:\n got %s\nwant %s", encode(t, obj), encode(t, want))
			}

			// AES-CBC with IV = key is deterministic, so encrypting the plain object must give
			// back exactly what APISIX stored.
			again := decode(t, encode(t, want))
			if err := k.EncryptObject(kind, again); err != nil {
				t.Fatalf("EncryptObject: %v", err)
			}
			if want := decode(t, raw); !reflect.DeepEqual(again, want) {
				t.Errorf("re-encrypted value differs from etcd.json:\n got %s\nwant %s", encode(t, again), encode(t, want))
			}
		})
	}

	for _, key := range encryptedInFixture {
		if reflect.DeepEqual(decode(t, stored[key]), plain[key]) {
			t.Errorf("%s: stored value is not encrypted", key)
		}
	}
}

func TestFixtureLayout(t *testing.T) {
	entries, plain := loadFixture(t)

	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return keys[i] < keys[j] }) {
		t.Errorf("etcd.json is not in etcd key order")
	}

	// apisix init_etcd: one placeholder per HTTP and stream config directory.
	wantDirs := []string{"consumer_groups", "consumers", "global_rules", "plugin_configs", "plugin_metadata",
		"plugins", "protos", "routes", "services", "ssls", "stream_routes", "upstreams"}
	var dirs []string
	for _, e := range entries {
		if e.Value == "init_dir" {
			if !strings.HasSuffix(e.Key, "/") {
				t.Errorf("init_dir placeholder %s does not end with /", e.Key)
			}
			dirs = append(dirs, strings.TrimSuffix(strings.TrimPrefix(e.Key, "/apisix/"), "/"))
			continue
		}
		if _, isObject := plain[e.Key]; !isObject && e.Key != "/apisix/plugins" && e.Key != "/apisix/gen_id" {
			t.Errorf("%s is in etcd.json but not in plain.json", e.Key)
		}
	}
	if !reflect.DeepEqual(dirs, wantDirs) {
		t.Errorf("init_dir placeholders = %v, want %v", dirs, wantDirs)
	}

	var list []struct {
		Name   string `json:"name"`
		Stream bool   `json:"stream"`
	}
	for _, e := range entries {
		if e.Key == "/apisix/plugins" {
			if err := json.Unmarshal([]byte(e.Value), &list); err != nil {
				t.Fatalf("/apisix/plugins: %v", err)
			}
		}
	}
	seen := map[string]bool{}
	for _, p := range list {
		name := p.Name
		if p.Stream {
			name += "/stream"
		}
		seen[name] = true
	}
	for _, name := range []string{"key-auth", "basic-auth", "jwt-auth", "limit-count", "proxy-rewrite", "cors",
		"prometheus", "http-logger", "ip-restriction/stream"} {
		if !seen[name] {
			t.Errorf("/apisix/plugins lacks %s", name)
		}
	}
}

func loadFixture(t *testing.T) ([]etcdEntry, map[string]map[string]any) {
	t.Helper()
	var entries []etcdEntry
	readJSON(t, filepath.Join(fixtureDir, "etcd.json"), &entries)
	var plain map[string]map[string]any
	readJSON(t, filepath.Join(fixtureDir, "plain.json"), &plain)
	if len(entries) == 0 || len(plain) == 0 {
		t.Fatalf("empty fixture: %d etcd entries, %d plain objects", len(entries), len(plain))
	}
	return entries, plain
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

func kindOf(t *testing.T, key string) model.Kind {
	t.Helper()
	rest := strings.TrimPrefix(key, "/apisix/")
	if strings.Contains(rest, "/credentials/") {
		return model.Credentials
	}
	dir, _, _ := strings.Cut(rest, "/")
	return model.Kind(dir)
}
