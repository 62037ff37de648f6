package conf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// StreamListen is one apisix.stream_proxy.tcp or .udp entry: a port, "ip:port", or (tcp)
// {addr, tls, proxy_protocol}. A port range "9100-9102" expands to one entry per port.
type StreamListen struct {
	Addr          string // host:port; an entry without ip listens on 0.0.0.0
	TLS           bool   // terminate TLS (the certificate of the SNI, as HTTPS)
	ProxyProtocol bool   // the client sends a PROXY protocol header first
}

// StreamProxy returns the stream listeners of apisix.stream_proxy; nil when proxy_mode has no
// stream. Errors name the offending key.
func (c *Config) StreamProxy() (tcp, udp []StreamListen, err error) {
	tcp, udp, e := c.streamProxy()
	if e != nil {
		return nil, nil, e
	}
	return tcp, udp, nil
}

func (c *Config) streamProxy() (tcp, udp []StreamListen, err *Error) {
	if !c.StreamMode() {
		return nil, nil, nil
	}
	raw, ok := c.Apisix.Extra["stream_proxy"]
	if !ok || raw == nil {
		return nil, nil, nil
	}
	sp, ok := raw.(map[string]any)
	if !ok {
		return nil, nil, &Error{Path: "apisix.stream_proxy", Msg: "expected a mapping"}
	}
	if tcp, err = streamListens(sp["tcp"], "apisix.stream_proxy.tcp", true); err != nil {
		return nil, nil, err
	}
	if udp, err = streamListens(sp["udp"], "apisix.stream_proxy.udp", false); err != nil {
		return nil, nil, err
	}
	return tcp, udp, nil
}

func streamListens(v any, path string, tcp bool) ([]StreamListen, *Error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, &Error{Path: path, Msg: "expected a list"}
	}
	var out []StreamListen
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", path, i)
		var l StreamListen
		addr := item
		if m, ok := item.(map[string]any); ok {
			if !tcp {
				return nil, &Error{Path: at, Msg: `expected a port or "ip:port"`}
			}
			addr = m["addr"]
			if addr == nil {
				return nil, &Error{Path: at, Msg: "missing addr"}
			}
			for key, dst := range map[string]*bool{"tls": &l.TLS, "proxy_protocol": &l.ProxyProtocol} {
				if b, set := m[key]; set {
					if l, ok := b.(bool); ok {
						*dst = l
					} else {
						return nil, &Error{Path: at + "." + key, Msg: "expected a boolean"}
					}
				}
			}
		}
		addrs, err := streamAddrs(addr)
		if err != nil {
			return nil, &Error{Path: at, Msg: err.Error()}
		}
		for _, a := range addrs {
			l.Addr = a
			out = append(out, l)
		}
	}
	return out, nil
}

// streamAddrs reads a port, "port", "ip:port", "[ipv6]:port" or a range "9100-9102".
func streamAddrs(v any) ([]string, error) {
	var s string
	switch x := v.(type) {
	case int:
		s = strconv.Itoa(x)
	case string:
		s = x
	default:
		return nil, fmt.Errorf("expected a port or \"ip:port\", got %v", v)
	}
	host, ports := "0.0.0.0", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, ports = strings.Trim(s[:i], "[]"), s[i+1:]
		if net.ParseIP(host) == nil {
			return nil, fmt.Errorf("%q: not an IP address", s[:i])
		}
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	from, err := port(lo)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	to := from
	if isRange {
		if to, err = port(hi); err != nil || to < from {
			return nil, fmt.Errorf("%q: bad port range", s)
		}
	}
	out := make([]string, 0, to-from+1)
	for p := from; p <= to; p++ {
		out = append(out, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	return out, nil
}

func port(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %q is not in 1-65535", s)
	}
	return p, nil
}

// ProxyProtocol is apisix.proxy_protocol: HTTP (and HTTPS) ports whose clients send a PROXY
// protocol header first, and the stream listeners' PROXY protocol both ways.
type ProxyProtocol struct {
	HTTPAddr, HTTPSAddr string // "" when not set
	TCP                 bool   // enable_tcp_pp: every stream tcp listener expects a header
	TCPToUpstream       bool   // enable_tcp_pp_to_upstream: stream sessions send one to the node
}

// ProxyProtocol reads apisix.proxy_protocol.
func (c *Config) ProxyProtocol() (ProxyProtocol, error) {
	var pp ProxyProtocol
	m, ok := c.Apisix.Extra["proxy_protocol"].(map[string]any)
	if !ok {
		return pp, nil
	}
	for key, dst := range map[string]*string{"listen_http_port": &pp.HTTPAddr, "listen_https_port": &pp.HTTPSAddr} {
		v, set := m[key]
		if !set || v == nil {
			continue
		}
		addrs, err := streamAddrs(v)
		if err != nil || len(addrs) != 1 {
			return pp, fmt.Errorf("apisix.proxy_protocol.%s: expected a port", key)
		}
		*dst = addrs[0]
	}
	for key, dst := range map[string]*bool{"enable_tcp_pp": &pp.TCP, "enable_tcp_pp_to_upstream": &pp.TCPToUpstream} {
		if v, set := m[key]; set {
			b, ok := v.(bool)
			if !ok {
				return pp, fmt.Errorf("apisix.proxy_protocol.%s: expected a boolean", key)
			}
			*dst = b
		}
	}
	return pp, nil
}
