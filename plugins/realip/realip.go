// Package realip registers APISIX's real-ip plugin: it replaces the client address with one taken
// from a header, query argument or other variable when the peer is trusted.
//
// The address is set through plugin.RemoteAddrSetter, which the gateway's engines implement, so
// $remote_addr, $remote_port and everything derived from them afterwards (ip-restriction, limit-*
// keys, loggers, X-Real-IP and X-Forwarded-For sent upstream) use the new value.
package realip

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "real-ip",
		Priority:       23000,
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}

// xffSource is the source APISIX reads specially: the last X-Forwarded-For header, one
// element of its list.
const xffSource = "http_x_forwarded_for"

type conf struct {
	Source           string   `json:"source"`
	TrustedAddresses []string `json:"trusted_addresses"`
	Recursive        bool     `json:"recursive"`
}

// RealIP is one compiled real-ip conf.
type RealIP struct {
	source    plugin.Var
	xff       bool
	trusted   *trustedSet // nil: every peer is trusted
	recursive bool
	log       *slog.Logger
}

// New compiles a real-ip conf; a trusted_addresses entry that is no IP or CIDR fails with
// APISIX's "invalid ip address: <v>".
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	var cf conf
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("real-ip: %w", err)
	}
	if cf.Source == "" {
		return nil, fmt.Errorf("property \"source\" is required")
	}
	r := &RealIP{
		source:    plugin.ParseVar(cf.Source),
		xff:       cf.Source == xffSource,
		recursive: cf.Recursive,
		log:       env.Logger,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if cf.TrustedAddresses != nil {
		t, err := newTrustedSet(cf.TrustedAddresses)
		if err != nil {
			return nil, err
		}
		r.trusted = t
	}
	return r, nil
}

// Rewrite sets the client address from the source when the current $remote_addr is trusted;
// a missing or unparsable value leaves the request unchanged, as in APISIX (which only warns).
func (r *RealIP) Rewrite(c plugin.Ctx) {
	setter, ok := c.(plugin.RemoteAddrSetter)
	if !ok {
		return
	}
	if r.trusted != nil && !r.trusted.contains(c.RemoteAddr()) {
		return
	}
	var v []byte
	if r.xff {
		v, ok = r.fromXFF(c)
	} else {
		v, ok = c.Lookup(&r.source)
	}
	if !ok {
		r.log.Warn("real-ip: missing real address", "route_id", c.RouteID())
		return
	}
	addr, port, ok := parseAddr(string(v))
	if !ok {
		r.log.Warn("real-ip: bad address", "value", string(v), "route_id", c.RouteID())
		return
	}
	setter.SetRemoteAddr(addr, port)
}

// fromXFF picks the address from the last X-Forwarded-For header: its only element, or
// with recursive and trusted_addresses the rightmost element that is not trusted (the
// leftmost when all are), else the last element.
func (r *RealIP) fromXFF(c plugin.Ctx) ([]byte, bool) {
	var last []byte
	found := false
	c.VisitHeaders(func(name, value []byte) {
		if bytes.EqualFold(name, []byte("X-Forwarded-For")) {
			last, found = value, true
		}
	})
	if !found {
		return nil, false
	}
	comma := bytes.LastIndexByte(last, ',')
	if comma < 0 {
		return last, true
	}
	if r.recursive && r.trusted != nil {
		parts := bytes.Split(last, []byte(","))
		for i := len(parts) - 1; i >= 1; i-- {
			p := trimLeftSpace(parts[i])
			if a, err := netip.ParseAddr(string(p)); err != nil || !r.trusted.contains(a) {
				return p, true
			}
		}
		return parts[0], true
	}
	return bytes.TrimLeft(last[comma+1:], " "), true
}

// trimLeftSpace drops what APISIX's split pattern `,\s*` consumes after a comma.
func trimLeftSpace(b []byte) []byte { return bytes.TrimLeft(b, " \t\r\n\f\v") }

// parseAddr reads ip, ip:port, [v6] or [v6]:port (core.utils.parse_addr); the address must be
// an IPv4 or IPv6 literal without zone and the port, when present, 1–65535. port 0: none.
func parseAddr(s string) (netip.Addr, uint16, bool) {
	host, portStr, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		if strings.HasSuffix(s, "]") {
			host = s[1 : len(s)-1]
		} else {
			i := strings.LastIndex(s, "]:")
			if i < 0 {
				return netip.Addr{}, 0, false
			}
			host, portStr, hasPort = s[1:i], s[i+2:], true
		}
	} else if strings.Count(s, ":") == 1 {
		i := strings.IndexByte(s, ':')
		host, portStr, hasPort = s[:i], s[i+1:], true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	if strings.HasPrefix(s, "[") && !addr.Is6() {
		return netip.Addr{}, 0, false
	}
	if !hasPort {
		return addr, 0, true
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.Addr{}, 0, false
	}
	return addr, uint16(port), true
}

// trustedSet matches addresses against IPs and CIDRs; IPv4-mapped IPv6 peers are unmapped
// first, as a dual-stack listener reports them.
type trustedSet struct {
	prefixes []netip.Prefix
}

func newTrustedSet(list []string) (*trustedSet, error) {
	t := &trustedSet{prefixes: make([]netip.Prefix, 0, len(list))}
	for _, v := range list {
		var p netip.Prefix
		if strings.IndexByte(v, '/') < 0 {
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("invalid ip address: %s", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		} else {
			var err error
			if p, err = netip.ParsePrefix(v); err != nil {
				return nil, fmt.Errorf("invalid ip address: %s", v)
			}
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

func (t *trustedSet) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var _ plugin.Rewriter = (*RealIP)(nil)
