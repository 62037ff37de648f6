package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsZone is an in-process DNS server: records by "name TYPE", replaced with set.
type dnsZone struct {
	mu  sync.Mutex
	rrs map[string][]string
}

func (z *dnsZone) set(key string, rrs ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rrs[key] = rrs
}

func serveDNS(t *testing.T) (*dnsZone, string) {
	t.Helper()
	z := &dnsZone{rrs: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		z.mu.Lock()
		texts, ok := z.rrs[q.Question[0].Name+" "+dns.TypeToString[q.Question[0].Qtype]]
		z.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, s := range texts {
			if rr, err := dns.NewRR(s); err == nil {
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return z, pc.LocalAddr().String()
}

// discovery.dns through the real binary: an upstream with service_name and discovery_type dns
// is sent to the nodes of the SRV record, and follows the record when it changes (TTL 1 s);
// an unknown name answers 503.
func TestDNSDiscovery(t *testing.T) {
	z, dnsAddr := serveDNS(t)
	one := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "one") })
	two := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "two") })
	portOf := func(o *originServer) string { return o.addr()[strings.LastIndexByte(o.addr(), ':')+1:] }
	z.set("a.svc.test. A", "a.svc.test. 1 IN A 127.0.0.1")
	z.set("svc.test. SRV", "svc.test. 1 IN SRV 1 10 "+portOf(one)+" a.svc.test.")

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  dns:\n    servers:\n      - %q\n", dnsAddr)), "")
	put(t, n, "/upstreams/d", `{"type":"roundrobin","service_name":"svc.test","discovery_type":"dns"}`)
	put(t, n, "/routes/d", `{"uri":"/d","upstream_id":"d"}`)
	put(t, n, "/routes/missing", `{"uri":"/missing","upstream":{"type":"roundrobin","service_name":"missing.test","discovery_type":"dns"}}`)
	waitFor(t, n.proxyURL("/d"), func(st int, b string) bool { return st == 200 && b == "one" })

	z.set("svc.test. SRV", "svc.test. 1 IN SRV 1 10 "+portOf(two)+" a.svc.test.")
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := do(t, "GET", n.proxyURL("/d"), "", "")
		if r.Status == 200 && r.Body == "two" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the changed SRV record was never followed: %d %q", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := do(t, "GET", n.proxyURL("/missing"), "", ""); r.Status != 503 {
		t.Fatalf("a name without records: %d %q, want 503", r.Status, r.Body)
	}
}
