package redistest

import (
	"strconv"
	"strings"
	"testing"
)

func TestServerRestart(t *testing.T) {
	s := Start(t)
	MustDo(t, s.Addr, "SET", "k", "v")
	if got := MustDo(t, s.Addr, "GET", "k"); got != "v" {
		t.Fatalf("GET k = %q", got)
	}
	s.Stop()
	if _, err := Do(s.Addr, "PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Restart()
	if got := MustDo(t, s.Addr, "GET", "k"); got != "" {
		t.Fatalf("GET k after restart = %q, want empty (no persistence)", got)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t)
	if len(c.Addrs) != 3 {
		t.Fatalf("addrs = %v", c.Addrs)
	}
	info := MustDo(t, c.Addrs[0], "CLUSTER", "INFO")
	if !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("cluster info: %s", info)
	}
}

func TestSentinel(t *testing.T) {
	m := Start(t)
	s := StartSentinel(t, m, "mymaster")
	got := MustDo(t, s.Addr, "SENTINEL", "get-master-addr-by-name", "mymaster")
	if got != "127.0.0.1\n"+itoa(m.Port) {
		t.Fatalf("master addr = %q", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
