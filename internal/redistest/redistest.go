// Package redistest starts real Redis processes (Debian's /usr/bin/redis-server and
// /usr/bin/redis-sentinel) on loopback for tests: a single server, a 3-master cluster and a
// sentinel. Every process gets its own temp dir, persistence off, and is killed when the test
// ends (or when the test binary dies: Pdeathsig).
//
// A test calls Start / StartCluster / StartSentinel; they t.Skip only when redis-server is not
// installed and fail the test on any other problem.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/testport"
)

// Binaries used; Debian's redis-server package installs them.
const (
	ServerBin   = "/usr/bin/redis-server"
	SentinelBin = "/usr/bin/redis-sentinel"
	CLIBin      = "/usr/bin/redis-cli"
)

// Available reports whether redis-server is installed.
func Available() bool {
	_, err := os.Stat(ServerBin)
	return err == nil
}

func skipIfMissing(t testing.TB) {
	t.Helper()
	if !Available() {
		t.Skip(ServerBin + " not installed")
	}
}

// FreePort returns an unused loopback port that this process has not handed out before
// (shared with the other test helpers: see testport).
func FreePort(t testing.TB) int {
	t.Helper()
	return testport.Free(t)
}

// Server is one redis-server (or redis-sentinel) process.
type Server struct {
	Port int
	Addr string // "127.0.0.1:<port>"

	t    testing.TB
	bin  string
	dir  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// Start runs a standalone redis-server on a free port; extra arguments are passed through
// ("--requirepass", "secret"). It is stopped when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	skipIfMissing(t)
	s := newServer(t, ServerBin)
	s.args = append(s.baseArgs(), extra...)
	s.start()
	return s
}

func newServer(t testing.TB, bin string) *Server {
	port := FreePort(t)
	s := &Server{Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) baseArgs() []string {
	return []string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"}
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	lf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd, s.log = cmd, lf
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := Do(s.Addr, "PING"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s on %s did not answer PING within 10s; log:\n%s", s.bin, s.Addr, s.logsLocked())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the process (SIGKILL, as a crash) and waits until its port refuses connections.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	for i := 0; i < 500; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	s.log.Close()
	s.cmd, s.log = nil, nil
}

// Restart stops the server if it runs and starts it again on the same port (empty: nothing is
// persisted), to test recovery after an outage.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Logs returns what the process wrote so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logsLocked()
}

func (s *Server) logsLocked() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// Do sends one command to the Redis at addr and returns its reply rendered as text: simple
// strings and bulk strings as they are, integers in decimal, arrays as lines, nil as "".
// An error reply is returned as an error. It is for test setup and assertions, not speed.
func Do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		parts := make([]string, 0, n)
		for i := 0; i < n; i++ {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// MustDo is Do failing the test on error.
func MustDo(t testing.TB, addr string, args ...string) string {
	t.Helper()
	out, err := Do(addr, args...)
	if err != nil {
		t.Fatalf("redis %s %v: %v", addr, args, err)
	}
	return out
}
