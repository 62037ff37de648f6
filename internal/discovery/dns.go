// Package discovery holds the service registries upstreams find their nodes in (APISIX's
// apisix/discovery/<type>, configured under config.yaml `discovery:`): DNS, Consul, Consul KV, Nacos, Eureka.
package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/sluicegw/sluice/internal/model"
)

// DNS is discovery.dns: a service_name "host[:port]" resolves to one node per record, looked up
// in the configured order (default SRV, then A, AAAA, CNAME) on the configured servers.
type DNS struct {
	servers []string
	order   []uint16
	client  *dns.Client
}

// dnsConfig is discovery.dns (apisix/discovery/dns/schema.lua).
type dnsConfig struct {
	Servers    []string `json:"servers"`
	ResolvConf string   `json:"resolv_conf"`
	Order      []string `json:"order"`
}

// NewDNS reads discovery.dns.
func NewDNS(raw json.RawMessage) (*DNS, error) {
	var c dnsConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("discovery.dns: %w", err)
	}
	if len(c.Servers) == 0 && c.ResolvConf != "" {
		// the nameservers of a resolv.conf (APISIX's schema takes servers or resolv_conf)
		cc, err := dns.ClientConfigFromFile(c.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("discovery.dns: resolv_conf %s: %w", c.ResolvConf, err)
		}
		for _, ns := range cc.Servers {
			c.Servers = append(c.Servers, net.JoinHostPort(ns, cc.Port))
		}
	}
	if len(c.Servers) == 0 {
		return nil, errors.New("discovery.dns: servers (or resolv_conf with a nameserver): at least one is required")
	}
	d := &DNS{client: &dns.Client{Timeout: 2 * time.Second}}
	for _, s := range c.Servers {
		s = strings.TrimSpace(s)
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "53")
		}
		d.servers = append(d.servers, s)
	}
	if len(c.Order) == 0 {
		c.Order = []string{"last", "SRV", "A", "AAAA", "CNAME"}
	}
	for _, o := range c.Order {
		switch strings.ToUpper(o) {
		case "LAST": // the type that answered last time: every lookup starts over here
		case "SRV":
			d.order = append(d.order, dns.TypeSRV)
		case "A":
			d.order = append(d.order, dns.TypeA)
		case "AAAA":
			d.order = append(d.order, dns.TypeAAAA)
		case "CNAME":
			d.order = append(d.order, dns.TypeCNAME)
		default:
			return nil, fmt.Errorf("discovery.dns: order: %q is not one of last, SRV, A, AAAA, CNAME", o)
		}
	}
	return d, nil
}

// Nodes resolves serviceName ("host" or "host:port"). An SRV answer gives each target's
// addresses with the record's port (unless serviceName names one), weight and priority (lower
// first: the node priority is its negation); A and AAAA answers give weight 1. ttl is the
// smallest TTL of the records used.
func (d *DNS) Nodes(serviceName string, _ []byte) ([]model.Node, time.Duration, error) {
	host, port := serviceName, 0
	if h, p, err := net.SplitHostPort(serviceName); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, 0, fmt.Errorf("service_name %q: bad port", serviceName)
		}
		host, port = h, n
	}
	if ip := net.ParseIP(host); ip != nil {
		return []model.Node{{Host: host, Port: port, Weight: 1}}, time.Hour, nil
	}
	name := dns.Fqdn(host)
	var lastErr error
	for _, t := range d.order {
		nodes, ttl, err := d.lookup(name, t, port)
		if err != nil {
			lastErr = err
			continue
		}
		if len(nodes) > 0 {
			return nodes, ttl, nil
		}
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("resolve %s: %w", host, lastErr)
	}
	return nil, 0, fmt.Errorf("resolve %s: no SRV, A, AAAA or CNAME record", host)
}

func (d *DNS) lookup(name string, t uint16, port int) ([]model.Node, time.Duration, error) {
	msg, err := d.exchange(name, t)
	if err != nil {
		return nil, 0, err
	}
	ttl := time.Duration(-1)
	seen := func(h dns.RR_Header) {
		if v := time.Duration(h.Ttl) * time.Second; ttl < 0 || v < ttl {
			ttl = v
		}
	}
	var nodes []model.Node
	switch t {
	case dns.TypeSRV:
		var srvs []*dns.SRV
		for _, rr := range msg.Answer {
			if s, ok := rr.(*dns.SRV); ok {
				srvs = append(srvs, s)
				seen(s.Hdr)
			}
		}
		for _, s := range srvs {
			addrs, attl, err := d.addresses(s.Target, msg.Extra)
			if err != nil {
				return nil, 0, err
			}
			if attl >= 0 && (ttl < 0 || attl < ttl) {
				ttl = attl
			}
			p := port
			if p == 0 {
				p = int(s.Port)
			}
			for _, a := range addrs {
				nodes = append(nodes, model.Node{Host: a, Port: p, Weight: int(s.Weight), Priority: -int(s.Priority)})
			}
		}
		zeroWeights(nodes)
	case dns.TypeCNAME:
		for _, rr := range msg.Answer {
			if c, ok := rr.(*dns.CNAME); ok {
				seen(c.Hdr)
				addrs, attl, err := d.addresses(c.Target, nil)
				if err != nil {
					return nil, 0, err
				}
				if attl >= 0 && (ttl < 0 || attl < ttl) {
					ttl = attl
				}
				for _, a := range addrs {
					nodes = append(nodes, model.Node{Host: a, Port: port, Weight: 1})
				}
			}
		}
	default:
		for _, rr := range msg.Answer {
			switch r := rr.(type) {
			case *dns.A:
				seen(r.Hdr)
				nodes = append(nodes, model.Node{Host: r.A.String(), Port: port, Weight: 1})
			case *dns.AAAA:
				seen(r.Hdr)
				nodes = append(nodes, model.Node{Host: r.AAAA.String(), Port: port, Weight: 1})
			}
		}
	}
	return nodes, max(ttl, 0), nil
}

// addresses resolves an SRV or CNAME target: from the additional section when the server sent
// its records, else with A then AAAA queries. ttl is -1 when no record had one.
func (d *DNS) addresses(target string, extra []dns.RR) ([]string, time.Duration, error) {
	var out []string
	ttl := time.Duration(-1)
	take := func(rrs []dns.RR, anyName bool) {
		for _, rr := range rrs {
			// the additional section may hold other names; an answer to our question may
			// reach its address through a CNAME chain
			if !anyName && !strings.EqualFold(rr.Header().Name, target) {
				continue
			}
			switch r := rr.(type) {
			case *dns.A:
				out = append(out, r.A.String())
			case *dns.AAAA:
				out = append(out, r.AAAA.String())
			default:
				continue
			}
			if v := time.Duration(rr.Header().Ttl) * time.Second; ttl < 0 || v < ttl {
				ttl = v
			}
		}
	}
	take(extra, false)
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if len(out) > 0 {
			break
		}
		msg, err := d.exchange(target, t)
		if err != nil {
			return nil, 0, err
		}
		take(msg.Answer, true)
	}
	return out, ttl, nil
}

// exchange asks each server in turn until one answers; a name that does not exist is an
// empty answer.
func (d *DNS) exchange(name string, t uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, t)
	q.SetEdns0(4096, false)
	var lastErr error
	for _, s := range d.servers {
		msg, _, err := d.client.Exchange(q, s)
		if err == nil && msg.Truncated {
			// too many records for UDP: ask again over TCP
			tcp := *d.client
			tcp.Net = "tcp"
			msg, _, err = tcp.Exchange(q, s)
		}
		if err != nil {
			lastErr = err
			continue
		}
		switch msg.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			return msg, nil
		}
		lastErr = fmt.Errorf("dns server %s: %s", s, dns.RcodeToString[msg.Rcode])
	}
	return nil, lastErr
}

// zeroWeights follows RFC 2782: weight 0 records are chosen only when their priority has no
// other; all-zero priorities get weight 1 each.
func zeroWeights(nodes []model.Node) {
	positive := map[int]bool{}
	for _, n := range nodes {
		if n.Weight > 0 {
			positive[n.Priority] = true
		}
	}
	for i := range nodes {
		if nodes[i].Weight == 0 && !positive[nodes[i].Priority] {
			nodes[i].Weight = 1
		}
	}
}
