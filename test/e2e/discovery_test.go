package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluicegw/sluice/internal/discovery/dnstest"
)

// discovery.dns through the real binary: an upstream with service_name and discovery_type dns
// is sent to the nodes of the SRV record, and follows the record when it changes (TTL 1 s);
// an unknown name answers 503.
func TestDNSDiscovery(t *testing.T) {
	z, dnsAddr := dnstest.Serve(t)
	one := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "one") })
	two := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "two") })
	portOf := func(o *originServer) string { return o.addr()[strings.LastIndexByte(o.addr(), ':')+1:] }
	z.Set("a.svc.test.", dns.TypeA, "a.svc.test. 1 IN A 127.0.0.1")
	z.Set("svc.test.", dns.TypeSRV, "svc.test. 1 IN SRV 1 10 "+portOf(one)+" a.svc.test.")

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  dns:\n    servers:\n      - %q\n", dnsAddr)), "")
	put(t, n, "/upstreams/d", `{"type":"roundrobin","service_name":"svc.test","discovery_type":"dns"}`)
	put(t, n, "/routes/d", `{"uri":"/d","upstream_id":"d"}`)
	put(t, n, "/routes/missing", `{"uri":"/missing","upstream":{"type":"roundrobin","service_name":"missing.test","discovery_type":"dns"}}`)
	waitFor(t, n.proxyURL("/d"), func(st int, b string) bool { return st == 200 && b == "one" })

	z.Set("svc.test.", dns.TypeSRV, "svc.test. 1 IN SRV 1 10 "+portOf(two)+" a.svc.test.")
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
