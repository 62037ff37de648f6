package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGeneratedAdminKey: with no admin key configured, the first start generates one, stores it
// (0600) and prints it once; a second start reuses it without printing it.
func TestGeneratedAdminKey(t *testing.T) {
	p := newPorts(t)
	dataDir := t.TempDir()
	n := startNode(t, p, p.configYAML("", ""), dataDir)
	key := n.adminKey()
	if len(key) != 32 {
		t.Fatalf("generated key %q: want 32 letters", key)
	}
	st, err := os.Stat(filepath.Join(dataDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin.key mode = %v, want 0600", st.Mode().Perm())
	}
	if !strings.Contains(n.Logs(), key) {
		t.Errorf("first start did not print the generated key:\n%s", n.Logs())
	}

	r := do(t, "GET", n.adminURL("/routes"), "", "")
	if r.Status != 401 || !strings.Contains(r.Body, `"error_msg":"failed to check token"`) {
		t.Errorf("no key: got %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", n.adminURL("/routes"), "wrong", "")
	if r.Status != 401 {
		t.Errorf("wrong key: got %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", n.adminURL("/routes"), key, "")
	if r.Status != 200 || !strings.Contains(r.Body, `"total":0`) {
		t.Errorf("right key: got %d %s", r.Status, r.Body)
	}
	r = do(t, "HEAD", n.adminURL(""), "", "")
	if r.Status != 200 {
		t.Errorf("HEAD /apisix/admin: got %d", r.Status)
	}

	n.stop()
	n2 := startNode(t, p, p.configYAML("", ""), dataDir)
	if got := n2.adminKey(); got != key {
		t.Fatalf("second start changed the key: %q -> %q", key, got)
	}
	if strings.Contains(n2.Logs(), key) {
		t.Errorf("second start printed the key again")
	}
}

// TestProxyAnswersRouteNotFound: before the data plane exists every request is unmatched.
func TestProxyAnswersRouteNotFound(t *testing.T) {
	p := newPorts(t)
	startNode(t, p, p.configYAML("", ""), "")
	for _, path := range []string{"/", "/hello", "/apisix/admin/routes"} {
		r := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d%s", p.Proxy, path), "", "")
		if r.Status != 404 || r.Body != "{\"error_msg\":\"404 Route Not Found\"}\n" {
			t.Errorf("GET %s: got %d %q", path, r.Status, r.Body)
		}
		if !strings.HasPrefix(r.Header.Get("Server"), "sluice/") {
			t.Errorf("Server header = %q", r.Header.Get("Server"))
		}
	}
	r := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/v1/healthcheck", p.Control), "", "")
	if r.Status != 200 {
		t.Errorf("control /v1/healthcheck: %d %s", r.Status, r.Body)
	}
}

const configuredKey = "edd1c9f03433f4a1d5d57d8a6c3a5d1c"

func keyConfig() string {
	return "    admin_key:\n      - name: admin\n        key: " + configuredKey + "\n        role: admin\n      - name: viewer\n        key: viewer-key-0123456789\n        role: viewer\n"
}

// TestRestartKeepsData: write through the Admin API, stop, start, read it back.
func TestRestartKeepsData(t *testing.T) {
	p := newPorts(t)
	dataDir := t.TempDir()
	cfg := p.configYAML(keyConfig(), "")
	n := startNode(t, p, cfg, dataDir)
	route := `{"uri":"/hello","upstream":{"type":"roundrobin","nodes":{"127.0.0.1:1980":1}}}`
	r := do(t, "PUT", n.adminURL("/routes/1"), configuredKey, route)
	if r.Status != 201 {
		t.Fatalf("PUT route: %d %s", r.Status, r.Body)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "admin.key")); err == nil {
		t.Errorf("a key was generated although one is configured")
	}
	n.stop()

	n = startNode(t, p, cfg, dataDir)
	r = do(t, "GET", n.adminURL("/routes/1"), configuredKey, "")
	if r.Status != 200 {
		t.Fatalf("GET after restart: %d %s", r.Status, r.Body)
	}
	var env struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
	if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
		t.Fatal(err)
	}
	if env.Key != "/apisix/routes/1" || env.Value["uri"] != "/hello" {
		t.Errorf("after restart: %s", r.Body)
	}
	// The viewer key may read but not write.
	if r := do(t, "GET", n.adminURL("/routes/1"), "viewer-key-0123456789", ""); r.Status != 200 {
		t.Errorf("viewer GET: %d %s", r.Status, r.Body)
	}
	if r := do(t, "DELETE", n.adminURL("/routes/1"), "viewer-key-0123456789", ""); r.Status < 400 {
		t.Errorf("viewer DELETE: %d %s", r.Status, r.Body)
	}
}

// TestValidateCommand: `sluice validate` names the bad key and exits non-zero.
func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("apisix:\n  node_listen: 9080\n"), 0o644)
	os.WriteFile(bad, []byte("apisix:\n  enable_control: maybe\n"), 0o644)

	out, err := exec.Command(sluiceBin, "validate", "-c", good).CombinedOutput()
	if err != nil {
		t.Errorf("validate good: %v\n%s", err, out)
	}
	out, err = exec.Command(sluiceBin, "validate", "-c", bad).CombinedOutput()
	if err == nil {
		t.Errorf("validate bad: exit 0\n%s", out)
	}
	if !strings.Contains(string(out), "apisix.enable_control") {
		t.Errorf("validate bad: message does not name the key:\n%s", out)
	}
	out, err = exec.Command(sluiceBin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sluice") {
		t.Errorf("version: %v %s", err, out)
	}
}

// TestPluginsReload: `plugins:` limits what resources may name; PUT /plugins/reload re-reads
// the config file, as APISIX does.
func TestPluginsReload(t *testing.T) {
	p := newPorts(t)
	base := p.configYAML(keyConfig(), "")
	n := startNode(t, p, base+"plugins:\n  - key-auth\n  - limit-count\n", "")
	route := `{"uri":"/r","plugins":{"cors":{}},"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}}`
	r := do(t, "PUT", n.adminURL("/routes/1"), configuredKey, route)
	if r.Status != 400 || !strings.Contains(r.Body, "unknown plugin [cors]") {
		t.Fatalf("disabled plugin accepted: %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", n.adminURL("/plugins/list"), configuredKey, "")
	if r.Status != 200 || r.Body != "[\"key-auth\",\"limit-count\"]" && r.Body != "[\"key-auth\",\"limit-count\"]\n" {
		t.Errorf("plugins/list: %d %q", r.Status, r.Body)
	}

	if err := os.WriteFile(n.cfgPath, []byte(base+"plugins:\n  - key-auth\n  - limit-count\n  - cors\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = do(t, "PUT", n.adminURL("/plugins/reload"), configuredKey, ""); r.Status != 200 {
		t.Fatalf("reload: %d %s", r.Status, r.Body)
	}
	if r = do(t, "PUT", n.adminURL("/routes/1"), configuredKey, route); r.Status != 201 {
		t.Errorf("after reload: %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", n.adminURL("/plugins/list"), configuredKey, "")
	if !strings.Contains(r.Body, `"cors"`) {
		t.Errorf("plugins/list after reload: %s", r.Body)
	}
}

// TestStartPortInUse: a port another process holds stops the start with an error naming it
// and a non-zero exit, never a crash, whichever listener hits it (the embedded etcd's peer
// port binds first, the proxy port last).
func TestStartPortInUse(t *testing.T) {
	for _, which := range []string{"etcd peer", "admin", "proxy"} {
		t.Run(which, func(t *testing.T) {
			p := newPorts(t)
			held := map[string]int{"etcd peer": p.EtcdPeer, "admin": p.Admin, "proxy": p.Proxy}[which]
			ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", held))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cfgPath := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfgPath, []byte(p.configYAML("", "")), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sluiceBin, "start", "-c", cfgPath, "--data-dir", t.TempDir())
			done := make(chan struct{})
			var out []byte
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("sluice kept running with port %d held:\n%s", held, out)
			}
			if err == nil {
				t.Fatalf("sluice exited 0 with port %d held:\n%s", held, out)
			}
			if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine ") {
				t.Fatalf("sluice crashed instead of reporting the busy port:\n%s", out)
			}
			if !strings.Contains(string(out), fmt.Sprintf("127.0.0.1:%d", held)) {
				t.Fatalf("the error does not name 127.0.0.1:%d:\n%s", held, out)
			}
		})
	}
}
