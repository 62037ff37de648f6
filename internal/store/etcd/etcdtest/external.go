package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/store/etcd"
)

// EtcdBinary is Debian's etcd-server (3.4); `make test` installs it.
const EtcdBinary = "/usr/bin/etcd"

// External is an etcd process on a temp data dir and fixed free ports; Stop kills it and
// Start brings it back on the same dir and ports, for resilience tests.
type External struct {
	t         testing.TB
	dir       string
	clientURL string
	peerURL   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	output *syncBuffer
}

// StartExternal starts /usr/bin/etcd (skipping the test when it is not installed) and returns
// a store connected to it, its endpoints, and the process handle. All are stopped at cleanup.
func StartExternal(t testing.TB) (*etcd.Store, []string, *External) {
	t.Helper()
	if _, err := os.Stat(EtcdBinary); err != nil {
		t.Skipf("external etcd tests need %s (apt-get install -y etcd-server): %v", EtcdBinary, err)
	}
	e := &External{
		t:         t,
		dir:       t.TempDir(),
		clientURL: "http://" + FreeAddr(t),
		peerURL:   "http://" + FreeAddr(t),
	}
	// Registered before the store's cleanup, so it runs after it: the store closes first.
	t.Cleanup(e.Stop)
	e.Start()
	s := Connect(t, e.Endpoints())
	return s, e.Endpoints(), e
}

// Endpoints returns the client URL.
func (e *External) Endpoints() []string { return []string{e.clientURL} }

// Start launches the process (again, after Stop) and waits until it reports healthy.
func (e *External) Start() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd != nil {
		e.t.Fatalf("external etcd already running")
	}
	out := &syncBuffer{}
	cmd := exec.Command(EtcdBinary,
		"--name", "sluice",
		"--data-dir", e.dir,
		"--listen-client-urls", e.clientURL,
		"--advertise-client-urls", e.clientURL,
		"--listen-peer-urls", e.peerURL,
		"--initial-advertise-peer-urls", e.peerURL,
		"--initial-cluster", "sluice="+e.peerURL,
		"--experimental-watch-progress-notify-interval", ProgressInterval.String(),
		"--logger", "zap",
		"--log-outputs", "stderr",
		"--log-level", "error",
	)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start %s: %v", EtcdBinary, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	e.cmd, e.exited, e.output = cmd, exited, out

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	err := waitUntil(ctx, func(ctx context.Context) error {
		select {
		case <-exited:
			return errors.New("process exited")
		default:
		}
		return healthy(ctx, e.clientURL)
	})
	if err != nil {
		e.stopLocked()
		e.t.Fatalf("external etcd on %s not healthy: %v\n%s", e.clientURL, err, out.String())
	}
}

// Stop kills the process (SIGKILL: the harshest way etcd can go away) and waits for it.
func (e *External) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked()
}

func (e *External) stopLocked() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

func healthy(ctx context.Context, clientURL string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /health: %s", resp.Status)
	}
	return nil
}

// syncBuffer collects the process output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
