package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProxyProtocolHTTP: apisix.proxy_protocol.listen_http_port takes connections that open
// with a PROXY protocol header; its source is $proxy_protocol_addr, and $remote_addr with
// real_ip_header proxy_protocol (the peer, 127.0.0.1, is in real_ip_from by default).
func TestProxyProtocolHTTP(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "real=%s pp=%s", r.Header.Get("X-Real-IP"), r.Header.Get("X-PP"))
	})
	p := newPorts(t)
	ppPort := freePort(t)
	cfg := strings.Replace(p.configYAML(keyConfig(), "nginx_config:\n  http:\n    real_ip_header: proxy_protocol\n"), "apisix:\n",
		fmt.Sprintf("apisix:\n  proxy_protocol:\n    listen_http_port: %d\n", ppPort), 1)
	n := startNode(t, p, cfg, "")
	put(t, n, "/routes/pp", fmt.Sprintf(`{"uri":"/pp","plugins":{"proxy-rewrite":{"headers":{"set":{"X-PP":"$proxy_protocol_addr:$proxy_protocol_port"}}}},"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, o.addr()))
	waitFor(t, n.proxyURL("/pp"), func(st int, _ string) bool { return st == 200 })
	send := func(header string) (string, error) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ppPort))
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "%sGET /pp HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n", header)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if got, err := send("PROXY TCP4 192.0.2.9 127.0.0.1 5555 80\r\n"); err != nil || got != "real=192.0.2.9 pp=192.0.2.9:5555" {
		t.Errorf("PROXY v1 header: %q %v", got, err)
	}
	if got, err := send(""); err == nil {
		t.Errorf("a request without the header was served: %q", got)
	}
	// the plain port does not take PROXY headers
	if r := do(t, "GET", n.proxyURL("/pp"), "", ""); !strings.HasPrefix(r.Body, "real=127.0.0.1 pp=") {
		t.Errorf("plain port: %q", r.Body)
	}
}

// TestProxyProtocolToStreamUpstream: enable_tcp_pp_to_upstream sends the client's address to
// the node in a PROXY protocol v1 header before the session's bytes.
func TestProxyProtocolToStreamUpstream(t *testing.T) {
	node := serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		header, _ := br.ReadString('\n')
		line, _ := br.ReadString('\n')
		fmt.Fprintf(c, "%s|%s", strings.TrimSpace(header), line)
	})
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := strings.Replace(streamConfig(p, plain, tlsPort, pp, udp), "apisix:\n", "apisix:\n  proxy_protocol:\n    enable_tcp_pp_to_upstream: true\n", 1)
	n := startNode(t, p, cfg, "")
	put(t, n, "/stream_routes/up", fmt.Sprintf(`{"upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, node))
	eventually(t, "PROXY header to the node", func() error {
		got, err := roundTrip(tcpDialer(plain), "hi")
		if err != nil || !strings.HasPrefix(got, "PROXY TCP4 127.0.0.1 127.0.0.1 ") || !strings.HasSuffix(got, fmt.Sprintf(" %d|hi", plain)) {
			return fmt.Errorf("%q %v", got, err)
		}
		return nil
	})
}

// TestProxyProtocolToTLSStreamUpstream: the header goes in clear before the TLS handshake
// with a scheme tls node, as nginx sends it.
func TestProxyProtocolToTLSStreamUpstream(t *testing.T) {
	certPEM, keyPEM := selfSigned(t, "node.test")
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	node := serveTCP(t, func(c net.Conn) {
		header := make([]byte, 0, 128)
		one := make([]byte, 1)
		for len(header) < 128 { // the clear-text header, byte by byte up to its LF
			if _, err := c.Read(one); err != nil {
				return
			}
			header = append(header, one[0])
			if one[0] == '\n' {
				break
			}
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		line, _ := bufio.NewReader(tc).ReadString('\n')
		fmt.Fprintf(tc, "%s|%s", strings.TrimSpace(string(header)), line)
	})
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := strings.Replace(streamConfig(p, plain, tlsPort, pp, udp), "apisix:\n", "apisix:\n  proxy_protocol:\n    enable_tcp_pp_to_upstream: true\n", 1)
	n := startNode(t, p, cfg, "")
	put(t, n, "/stream_routes/up", fmt.Sprintf(`{"upstream":{"type":"roundrobin","scheme":"tls","nodes":{"%s":1}}}`, node))
	eventually(t, "PROXY header before TLS to the node", func() error {
		got, err := roundTrip(tcpDialer(plain), "hi")
		if err != nil || !strings.HasPrefix(got, "PROXY TCP4 127.0.0.1 127.0.0.1 ") || !strings.HasSuffix(got, "|hi") {
			return fmt.Errorf("%q %v", got, err)
		}
		return nil
	})
}
