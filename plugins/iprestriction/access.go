package iprestriction

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

type conf struct {
	Message      string   `json:"message"`
	ResponseCode int      `json:"response_code"`
	Whitelist    []string `json:"whitelist"`
	Blacklist    []string `json:"blacklist"`
}

// IPRestriction is one compiled ip-restriction conf.
type IPRestriction struct {
	set   ipSet
	allow bool // whitelist mode: block clients outside set; else block clients inside it
	code  int
	body  []byte
}

// New compiles a conf (plugins.md §4 ip-restriction), applying the schema defaults.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	c := conf{Message: "Your IP address is not allowed", ResponseCode: 403}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	p := &IPRestriction{code: c.ResponseCode, body: plugin.Message(c.Message)}
	list := c.Blacklist
	if c.Whitelist != nil {
		list, p.allow = c.Whitelist, true
	}
	set, err := newIPSet(list)
	if err != nil {
		return nil, err
	}
	p.set = set
	return p, nil
}

// Access rejects the client ($remote_addr, after real-ip) per the list.
func (p *IPRestriction) Access(c plugin.Ctx) {
	if p.set.contains(c.RemoteAddr()) != p.allow {
		c.Exit(p.code, p.body)
	}
}

// Preread closes a stream connection from a client the list refuses (APISIX's stream
// ip-restriction; its status 403 goes to the logs).
func (p *IPRestriction) Preread(c plugin.StreamCtx) {
	if p.set.contains(c.RemoteAddr()) != p.allow {
		c.Exit(p.code, nil)
	}
}

// ipSet matches addresses against single IPs (one map read) and CIDR prefixes. As in APISIX's
// ipmatcher, IPv4 and IPv6 are separate families: a client is unmapped (a dual-stack listener
// reports ::ffff:a.b.c.d) and an IPv4 client never matches an IPv6 entry.
type ipSet struct {
	addrs    map[netip.Addr]struct{}
	prefixes []netip.Prefix
}

func newIPSet(list []string) (ipSet, error) {
	s := ipSet{addrs: make(map[netip.Addr]struct{}, len(list))}
	for _, v := range list {
		if strings.IndexByte(v, '/') < 0 {
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return s, fmt.Errorf("invalid ip address: %s", v)
			}
			s.addrs[a] = struct{}{}
			continue
		}
		pfx, err := netip.ParsePrefix(v)
		if err != nil {
			return s, fmt.Errorf("invalid ip address: %s", v)
		}
		pfx = pfx.Masked()
		if pfx.Bits() == pfx.Addr().BitLen() {
			s.addrs[pfx.Addr()] = struct{}{}
			continue
		}
		s.prefixes = append(s.prefixes, pfx)
	}
	return s, nil
}

func (s *ipSet) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	if _, ok := s.addrs[a]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var _ plugin.Accessor = (*IPRestriction)(nil)
