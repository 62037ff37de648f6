package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Standalone, file-driven mode through the real binary (deployment.role data_plane,
// config_provider yaml): routes come from apisix.yaml beside config.yaml, a change to the file
// is served within seconds, a file without its "#END" line is not loaded (the previous
// configuration keeps serving), and there is no Admin API.
func TestStandaloneYAML(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "from ", r.URL.Path) })
	p := newPorts(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`apisix:
  node_listen:
    - ip: 127.0.0.1
      port: %d
  control:
    ip: 127.0.0.1
    port: %d
%sdeployment:
  role: data_plane
  role_data_plane:
    config_provider: yaml
`, p.Proxy, p.Control, p.sslYAML())
	cfgPath := filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	file := filepath.Join(dir, "apisix.yaml")
	write := func(body string) {
		t.Helper()
		tmp := file + ".tmp"
		must(t, os.WriteFile(tmp, []byte(body), 0o644))
		must(t, os.Rename(tmp, file))
	}
	write(fmt.Sprintf(`routes:
  - id: 1
    uri: /one
    upstream_id: up
upstreams:
  - id: up
    type: roundrobin
    nodes:
      "%s": 1
#END
`, o.addr()))

	adminPort := p.Admin
	p.Admin = 0 // no Admin API on a data_plane node
	n := &node{t: t, dataDir: t.TempDir(), cfgPath: cfgPath, ports: p, done: make(chan struct{})}
	n.start()
	t.Cleanup(n.stop)
	waitFor(t, n.proxyURL("/one"), func(st int, b string) bool { return st == 200 && b == "from /one" })

	// a change is picked up; the upstream stays as it was
	write(fmt.Sprintf(`routes:
  - id: 1
    uri: /one
    upstream_id: up
  - uri: /two
    upstream:
      type: roundrobin
      nodes:
        "%s": 1
upstreams:
  - id: up
    type: roundrobin
    nodes:
      "%s": 1
#END
`, o.addr(), o.addr()))
	waitFor(t, n.proxyURL("/two"), func(st int, b string) bool { return st == 200 && b == "from /two" })

	// half written (no #END): ignored, both routes keep serving
	time.Sleep(1100 * time.Millisecond) // a new mtime second
	write("routes:\n  - id: 1\n    uri: /three\n")
	time.Sleep(2500 * time.Millisecond)
	for _, path := range []string{"/one", "/two"} {
		if r := do(t, "GET", n.proxyURL(path), "", ""); r.Status != 200 {
			t.Fatalf("after a file without #END, %s: %d", path, r.Status)
		}
	}
	if !strings.Contains(n.Logs(), "#END") {
		t.Errorf("the ignored file was not logged:\n%s", n.Logs())
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", adminPort), time.Second); err == nil {
		c.Close()
		t.Error("something listens on the Admin API port of a data_plane node")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
