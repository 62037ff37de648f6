package discovery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluicegw/sluice/internal/discovery/dnstest"
)

func newTestDNS(t *testing.T, server string, order ...string) *DNS {
	t.Helper()
	conf, _ := json.Marshal(map[string]any{"servers": []string{server}, "order": order})
	if len(order) == 0 {
		conf, _ = json.Marshal(map[string]any{"servers": []string{server}})
	}
	d, err := NewDNS(conf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDNSNodes(t *testing.T) {
	z, addr := dnstest.Serve(t)
	z.Set("a.test.", dns.TypeA, "a.test. 30 IN A 127.0.0.2", "a.test. 10 IN A 127.0.0.3")
	z.Set("six.test.", dns.TypeAAAA, "six.test. 30 IN AAAA ::1")
	z.Set("srv.test.", dns.TypeSRV, "srv.test. 20 IN SRV 1 30 8080 a.test.", "srv.test. 20 IN SRV 2 0 9090 b.test.")
	z.Set("b.test.", dns.TypeA, "b.test. 5 IN A 127.0.0.4")
	z.Set("alias.test.", dns.TypeCNAME, "alias.test. 40 IN CNAME b.test.")
	// an SRV target that is itself an alias: the A answer comes through the CNAME
	z.Set("srv2.test.", dns.TypeSRV, "srv2.test. 20 IN SRV 1 10 8081 c.test.")
	z.Set("c.test.", dns.TypeA, "c.test. 20 IN CNAME b.test.", "b.test. 5 IN A 127.0.0.4")
	d := newTestDNS(t, addr)

	for _, tc := range []struct {
		name string
		want string
		ttl  time.Duration
	}{
		{"a.test:1980", "127.0.0.2:1980 w1 p0, 127.0.0.3:1980 w1 p0", 10 * time.Second},
		{"a.test", "127.0.0.2:0 w1 p0, 127.0.0.3:0 w1 p0", 10 * time.Second},
		{"six.test:80", "::1:80 w1 p0", 30 * time.Second},
		// SRV: the record's port, weight, priority negated; b.test alone at priority 2 with
		// weight 0 gets 1 (RFC 2782); the target's A TTL (5 s) is the smallest
		{"srv.test", "127.0.0.2:8080 w30 p-1, 127.0.0.3:8080 w30 p-1, 127.0.0.4:9090 w1 p-2", 5 * time.Second},
		{"srv.test:7000", "127.0.0.2:7000 w30 p-1, 127.0.0.3:7000 w30 p-1, 127.0.0.4:7000 w1 p-2", 5 * time.Second},
		{"alias.test:81", "127.0.0.4:81 w1 p0", 5 * time.Second},
		{"srv2.test", "127.0.0.4:8081 w10 p-1", 5 * time.Second},
		{"127.0.0.9:82", "127.0.0.9:82 w1 p0", time.Hour},
	} {
		nodes, ttl, err := d.Nodes(tc.name, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for _, n := range nodes {
			got = append(got, fmt.Sprintf("%s:%d w%d p%d", n.Host, n.Port, n.Weight, n.Priority))
		}
		sort.Strings(got)
		if s := fmt.Sprint(got); s != "["+joinComma(tc.want)+"]" || ttl != tc.ttl {
			t.Errorf("%s: %s ttl %v; want [%s] ttl %v", tc.name, s, ttl, joinComma(tc.want), tc.ttl)
		}
	}
	if _, _, err := d.Nodes("missing.test", nil); err == nil {
		t.Error("a name without records: no error")
	}
	// order: A only never asks for SRV
	if nodes, _, err := newTestDNS(t, addr, "A").Nodes("srv.test", nil); err == nil {
		t.Errorf("order [A] resolved an SRV-only name: %v", nodes)
	}
	if _, err := NewDNS(json.RawMessage(`{"servers":[]}`)); err == nil {
		t.Error("no servers: no error")
	}
	if _, err := NewDNS(json.RawMessage(`{"servers":["127.0.0.1"],"order":["MX"]}`)); err == nil {
		t.Error("order MX: no error")
	}
}

// joinComma sorts a ", "-separated list and joins it as fmt prints a []string's items.
func joinComma(s string) string {
	parts := strings.Split(s, ", ")
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func TestDNSResolvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	os.WriteFile(path, []byte("# test\nnameserver 127.0.0.53\nnameserver ::1\noptions ndots:1\n"), 0o644)
	d, err := NewDNS(json.RawMessage(fmt.Sprintf(`{"resolv_conf":%q}`, path)))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d.servers) != "[127.0.0.53:53 [::1]:53]" {
		t.Errorf("servers from resolv.conf: %v", d.servers)
	}
	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, []byte("options ndots:1\n"), 0o644)
	for _, conf := range []string{fmt.Sprintf(`{"resolv_conf":%q}`, empty), `{"resolv_conf":"/nonexistent/resolv.conf"}`} {
		if _, err := NewDNS(json.RawMessage(conf)); err == nil {
			t.Errorf("%s: no error", conf)
		}
	}
}
