package redistest

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of three masters and no replicas.
type Cluster struct {
	Nodes []*Server
	Addrs []string // "127.0.0.1:<port>" of every master, for redis_cluster_nodes
}

// StartCluster starts three redis-server processes with cluster mode on, joins them with
// `redis-cli --cluster create` and waits until every node reports cluster_state:ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	skipIfMissing(t)
	c := &Cluster{}
	for i := 0; i < 3; i++ {
		s := newServer(t, ServerBin)
		s.args = append(s.baseArgs(), "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		s.start()
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(CLIBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Nodes {
		for {
			info, err := Do(s.Addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok within 20s: %q %v", s.Addr, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}
