package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Sentinel is one redis-sentinel process monitoring one master.
type Sentinel struct {
	*Server
	MasterName string
}

// StartSentinel starts a redis-sentinel that monitors master under masterName (quorum 1) and
// waits until it answers SENTINEL get-master-addr-by-name with the master's address.
func StartSentinel(t testing.TB, master *Server, masterName string) *Sentinel {
	t.Helper()
	skipIfMissing(t)
	s := newServer(t, SentinelBin)
	// Sentinel rewrites its config file, so it must be a writable file of its own.
	cfg := filepath.Join(s.dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
		s.Port, s.dir, masterName, master.Port, masterName)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s.args = []string{cfg}
	s.start()
	want := fmt.Sprintf("127.0.0.1\n%d", master.Port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := Do(s.Addr, "SENTINEL", "get-master-addr-by-name", masterName)
		if err == nil && strings.TrimSpace(got) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel %s: master %s not known within 10s: %q %v", s.Addr, masterName, got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Sentinel{Server: s, MasterName: masterName}
}
