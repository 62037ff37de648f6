package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestZeroConfig starts `sluice start` with no config file, as `make run` does: proxy :9080,
// Admin API 127.0.0.1:9180, control 127.0.0.1:9090, embedded etcd on 2379/2380 under the data
// dir. It needs those fixed ports, so it skips (saying which) when something else holds one.
func TestZeroConfig(t *testing.T) {
	for _, port := range []int{9080, 9180, 9090, 2379, 2380} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Skipf("default port %d is busy on this machine: %v", port, err)
		}
		ln.Close()
	}
	dir := t.TempDir()
	cmd := exec.Command(sluiceBin, "start", "--log-format", "json")
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sluice exited with %v after SIGTERM", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("no graceful stop within 20s")
		}
		for l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("--log-format json wrote a non-JSON line: %s", l)
			}
		}
	}()

	// the Admin API listens first; the proxy binds after the plugins' node-level start
	// (export server, cache zones)
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{"127.0.0.1:9180", "127.0.0.1:9080"} {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing listening on %s within 30s", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "sluice-data", "admin.key"))
	if err != nil {
		t.Fatalf("no generated key in ./sluice-data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sluice-data", "etcd")); err != nil {
		t.Errorf("embedded etcd data not under ./sluice-data: %v", err)
	}
	r := do(t, "GET", "http://127.0.0.1:9180/apisix/admin/routes", strings.TrimSpace(string(key)), "")
	if r.Status != 200 {
		t.Errorf("admin: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", "http://127.0.0.1:9080/anything", "", ""); r.Status != 404 {
		t.Errorf("proxy: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", "http://127.0.0.1:9090/v1/healthcheck", "", ""); r.Status != 200 {
		t.Errorf("control: %d %s", r.Status, r.Body)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:2379"); err != nil {
		t.Errorf("embedded etcd client port: %v", err)
	} else {
		c.Close()
	}
}
