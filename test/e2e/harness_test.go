// Package e2e runs the real sluice binary, started as a user starts it, against real etcd.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/testport"
)

var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	// the binary as `make build` makes it: toolchain/netpoll-flags.sh (FIFO netpoll)
	script := exec.Command("../../toolchain/netpoll-flags.sh")
	script.Env = append(os.Environ(), "GO=go") // the go command that builds below
	script.Stderr = os.Stderr
	flags, err := script.Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "toolchain/netpoll-flags.sh:", err)
		os.Exit(1)
	}
	args := append([]string{"build"}, strings.Fields(string(flags))...)
	build := exec.Command("go", append(args, "-o", sluiceBin, "github.com/sluicegw/sluice/cmd/sluice")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort is a free loopback port no other helper of this test binary was given (the
// Redis and etcd helpers draw from the same record).
func freePort(t testing.TB) int {
	t.Helper()
	return testport.Free(t)
}

// ports of one node.
type ports struct {
	Proxy, Admin, Control, EtcdClient, EtcdPeer, SSL int
}

func newPorts(t testing.TB) ports {
	return ports{freePort(t), freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)}
}

// sslYAML is the apisix.ssl section binding the node's HTTPS port on loopback (the default
// would be 0.0.0.0:9443, shared by every node).
func (p ports) sslYAML() string {
	return fmt.Sprintf("  ssl:\n    listen:\n      - ip: 127.0.0.1\n        port: %d\n", p.SSL)
}

// configYAML returns a config.yaml with the node's ports and extra YAML appended under the
// given top-level sections (extraDeployment is indented under deployment:).
func (p ports) configYAML(extraDeployment, extra string) string {
	return fmt.Sprintf(`apisix:
  node_listen:
    - ip: 127.0.0.1
      port: %d
  control:
    ip: 127.0.0.1
    port: %d
%sdeployment:
  role: traditional
  admin:
    admin_listen:
      ip: 127.0.0.1
      port: %d
%s  etcd:
    embedded:
      listen_client: http://127.0.0.1:%d
      listen_peer: http://127.0.0.1:%d
%s`, p.Proxy, p.Control, p.sslYAML(), p.Admin, extraDeployment, p.EtcdClient, p.EtcdPeer, extra)
}

// node is one running sluice process.
type node struct {
	t       testing.TB
	cmd     *exec.Cmd
	dataDir string
	cfgPath string
	ports   ports
	mu      sync.Mutex
	logs    bytes.Buffer
	done    chan struct{}
}

// startNode writes cfg to a file and runs `sluice start -c FILE --data-dir DIR`, waiting until
// the admin and proxy ports accept connections.
func startNode(t testing.TB, p ports, cfg, dataDir string) *node {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dataDir: dataDir, cfgPath: cfgPath, ports: p, done: make(chan struct{})}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *node) start() {
	n.t.Helper()
	n.done = make(chan struct{})
	n.cmd = exec.Command(sluiceBin, "start", "-c", n.cfgPath, "--data-dir", n.dataDir)
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	n.cmd.Stdout = io.Discard
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.mu.Lock()
			n.logs.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
		}
		n.cmd.Wait()
		close(n.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for _, port := range []int{n.ports.Admin, n.ports.Proxy} {
		if port == 0 {
			continue // not served (a data_plane node has no Admin API)
		}
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-n.done:
				n.t.Fatalf("sluice exited during start:\n%s", n.Logs())
			default:
			}
			if time.Now().After(deadline) {
				n.t.Fatalf("sluice did not listen on %d within 30s:\n%s", port, n.Logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// stop sends SIGTERM and waits for a graceful exit.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
		n.t.Errorf("sluice did not stop within 20s of SIGTERM:\n%s", n.Logs())
	}
}

func (n *node) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// adminKey returns the generated key from the data dir.
func (n *node) adminKey() string {
	b, err := os.ReadFile(filepath.Join(n.dataDir, "admin.key"))
	if err != nil {
		n.t.Fatalf("read generated admin key: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// response is a decoded HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

var client = &http.Client{Timeout: 10 * time.Second}

// do sends one request; key "" sends no X-API-KEY.
func do(t testing.TB, method, url, key, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-KEY", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (n *node) adminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/apisix/admin%s", n.ports.Admin, path)
}
