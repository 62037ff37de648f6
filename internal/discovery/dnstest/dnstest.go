// Package dnstest runs an in-process DNS server on loopback for tests of DNS service discovery.
package dnstest

import (
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone is the server's records by name and type; Set replaces them while it runs. A name
// without records for the asked type is answered NXDOMAIN.
type Zone struct {
	mu  sync.Mutex
	rrs map[string][]string // "name TYPE" → RR texts
}

// Set gives name (fully qualified, "a.test.") the records rrs of type t, in zone file syntax
// ("a.test. 30 IN A 127.0.0.2").
func (z *Zone) Set(name string, t uint16, rrs ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rrs[name+" "+dns.TypeToString[t]] = rrs
}

// Serve starts a UDP server on 127.0.0.1, stopped when t ends, and returns its zone and address.
func Serve(t testing.TB) (*Zone, string) {
	t.Helper()
	z := &Zone{rrs: map[string][]string{}}
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
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Errorf("dnstest: bad record %q: %v", s, err)
				continue
			}
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m) //nolint:errcheck
	})}
	go srv.ActivateAndServe() //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() })
	return z, pc.LocalAddr().String()
}
