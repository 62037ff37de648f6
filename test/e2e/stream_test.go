package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The stream (L4) proxy through the real binary: apisix.stream_proxy tcp/udp listeners,
// stream_routes matched by address, port and SNI, stream plugins, and TLS termination.

// serveTCP accepts on a loopback port until the test ends, each connection on handle's own
// goroutine (closed after it); it returns the address.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// echoTCP answers every line it reads with prefix + the line.
func echoTCP(t *testing.T, prefix string) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, prefix+line); err != nil {
				return
			}
		}
	})
}

// echoUDP answers every datagram with prefix + the datagram.
func echoUDP(t *testing.T, prefix string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(prefix), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

// streamConfig is a node config with proxy_mode http&stream and the given stream listeners.
func streamConfig(p ports, tcpPlain, tcpTLS, tcpPP, udp int) string {
	sp := fmt.Sprintf("  proxy_mode: http&stream\n  stream_proxy:\n    tcp:\n      - 127.0.0.1:%d\n      - addr: 127.0.0.1:%d\n        tls: true\n      - addr: 127.0.0.1:%d\n        proxy_protocol: true\n    udp:\n      - 127.0.0.1:%d\n",
		tcpPlain, tcpTLS, tcpPP, udp)
	return strings.Replace(p.configYAML(keyConfig(), ""), "apisix:\n", "apisix:\n"+sp, 1)
}

// roundTrip sends one line over a fresh connection to addr and returns the answer line, or
// the error (a closed connection is io.EOF).
func roundTrip(dial func() (net.Conn, error), line string) (string, error) {
	c, err := dial()
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func tcpDialer(port int) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)) }
}

// eventually retries f until it returns nil or 10 s pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after 10s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func expectAnswer(dial func() (net.Conn, error), line, want string) func() error {
	return func() error {
		got, err := roundTrip(dial, line)
		if err != nil || got != want {
			return fmt.Errorf("answer %q (%v), want %q", got, err, want)
		}
		return nil
	}
}

// expectClosed wants the connection closed (EOF or reset), not left hanging.
func expectClosed(dial func() (net.Conn, error)) func() error {
	return func() error {
		got, err := roundTrip(dial, "x")
		var ne net.Error
		switch {
		case err == nil:
			return fmt.Errorf("answered %q, want the connection closed", got)
		case errors.As(err, &ne) && ne.Timeout():
			return fmt.Errorf("the connection hung instead of being closed: %v", err)
		}
		return nil
	}
}

func TestStreamTCPRoutes(t *testing.T) {
	a, b := echoTCP(t, "A:"), echoTCP(t, "B:")
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	n := startNode(t, p, streamConfig(p, plain, tlsPort, pp, udp), "")
	dial := tcpDialer(plain)

	// no stream route: the connection is closed
	if _, err := roundTrip(dial, "x"); err == nil {
		t.Fatal("a connection without any stream route was proxied")
	}

	put(t, n, "/upstreams/ua", fmt.Sprintf(`{"type":"roundrobin","nodes":{"%s":1}}`, a))
	put(t, n, "/stream_routes/1", `{"server_port":`+fmt.Sprint(plain)+`,"remote_addr":"127.0.0.0/8","upstream_id":"ua"}`)
	eventually(t, "route by server_port and remote_addr CIDR", expectAnswer(dial, "hi", "A:hi"))

	// a route listed earlier wins; one whose remote_addr does not match is skipped
	put(t, n, "/stream_routes/0", fmt.Sprintf(`{"remote_addr":"10.0.0.1","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, b))
	time.Sleep(300 * time.Millisecond)
	if got, err := roundTrip(dial, "hi"); got != "A:hi" {
		t.Errorf("remote_addr 10.0.0.1 route took a 127.0.0.1 client: %q %v", got, err)
	}

	// ip-restriction in preread closes refused clients before any byte reaches a node
	put(t, n, "/stream_routes/1", fmt.Sprintf(`{"server_port":%d,"upstream_id":"ua","plugins":{"ip-restriction":{"blacklist":["127.0.0.1"]}}}`, plain))
	eventually(t, "ip-restriction blacklist", expectClosed(dial))

	// limit-conn: one connection at a time per client
	put(t, n, "/stream_routes/1", fmt.Sprintf(`{"server_port":%d,"upstream_id":"ua","plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}}}`, plain))
	eventually(t, "limit-conn route", expectAnswer(dial, "one", "A:one"))
	// the sessions of the probes above end (and give their slot back) just after their
	// client closed: the connection to hold may need a retry
	var held net.Conn
	eventually(t, "a connection holding the slot", func() error {
		c, err := dial()
		if err != nil {
			return err
		}
		io.WriteString(c, "held\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := bufio.NewReader(c).ReadString('\n'); got != "A:held\n" {
			c.Close()
			return fmt.Errorf("%q %v", got, err)
		}
		held = c
		return nil
	})
	if got, err := roundTrip(dial, "second"); err == nil {
		t.Errorf("second connection while the first is open: answered %q, want closed by limit-conn", got)
	}
	held.Close()
	eventually(t, "limit-conn slot given back when the first connection closed", expectAnswer(dial, "third", "A:third"))

	// a node that refuses connections is followed by the next one (retries)
	put(t, n, "/stream_routes/1", fmt.Sprintf(`{"server_port":%d,"upstream":{"type":"roundrobin","nodes":{"%s":1,"%s":1}}}`, plain, refused(t), a))
	eventually(t, "route with a refused node", expectAnswer(dial, "r", "A:r"))
	for i := range 4 {
		if got, err := roundTrip(dial, "r"); got != "A:r" {
			t.Fatalf("connection %d with one refused node: %q %v, want the next node's answer", i, got, err)
		}
	}

	// traffic-split in preread: a rule on the stream variables sends 127.0.0.1 to another upstream
	put(t, n, "/upstreams/ub", fmt.Sprintf(`{"type":"roundrobin","nodes":{"%s":1}}`, b))
	put(t, n, "/stream_routes/1", fmt.Sprintf(`{"server_port":%d,"upstream_id":"ua","plugins":{"traffic-split":{"rules":[{"match":[{"vars":[["remote_addr","==","127.0.0.1"]]}],"weighted_upstreams":[{"upstream_id":"ub","weight":1}]}]}}}`, plain))
	eventually(t, "stream traffic-split to upstream_id ub", expectAnswer(dial, "ts", "B:ts"))
	put(t, n, "/stream_routes/1", fmt.Sprintf(`{"server_port":%d,"upstream_id":"ua","plugins":{"traffic-split":{"rules":[{"match":[{"vars":[["remote_addr","==","10.9.9.9"]]}],"weighted_upstreams":[{"upstream_id":"ub","weight":1}]}]}}}`, plain))
	eventually(t, "stream traffic-split rule not matching keeps the route's upstream", expectAnswer(dial, "ts", "A:ts"))

	// a deleted route closes new connections again
	if r := do(t, "DELETE", n.adminURL("/stream_routes/1"), configuredKey, ""); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := do(t, "DELETE", n.adminURL("/stream_routes/0"), configuredKey, ""); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	eventually(t, "deleted stream route", expectClosed(dial))
}

func TestStreamTLSAndSNI(t *testing.T) {
	a, b := echoTCP(t, "A:"), echoTCP(t, "B:")
	ca := newTestCA(t)
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	n := startNode(t, p, streamConfig(p, plain, tlsPort, pp, udp), "")
	cert, key := ca.issue(t, "a.test", "a.test", "b.test", "x.wild.test")
	put(t, n, "/ssls/1", sslObject(cert, key, map[string]any{"snis": []string{"a.test", "b.test", "*.wild.test"}}))
	put(t, n, "/stream_routes/sni", fmt.Sprintf(`{"sni":"a.test","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, a))
	put(t, n, "/stream_routes/wild", fmt.Sprintf(`{"sni":"*.wild.test","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, a))
	// created before the catch-all route below: routes without sni match in creation order
	put(t, n, "/stream_routes/pp", fmt.Sprintf(`{"remote_addr":"192.0.2.7","upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, a))
	put(t, n, "/stream_routes/any", fmt.Sprintf(`{"upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, b))
	tlsDial := func(sni string) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			return tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{ServerName: sni, RootCAs: ca.pool()})
		}
	}
	eventually(t, "TLS stream route by SNI", expectAnswer(tlsDial("a.test"), "hi", "A:hi"))
	eventually(t, "wildcard SNI", expectAnswer(tlsDial("x.wild.test"), "hi", "A:hi"))
	eventually(t, "SNI without a route falls to the route without sni", expectAnswer(tlsDial("b.test"), "hi", "B:hi"))
	eventually(t, "plain listener", expectAnswer(tcpDialer(plain), "hi", "B:hi"))

	// PROXY protocol: the header's source address is the client's (remote_addr)
	ppDial := func(src string) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pp))
			if err == nil {
				_, err = fmt.Fprintf(c, "PROXY TCP4 %s 127.0.0.1 40000 %d\r\n", src, pp)
			}
			return c, err
		}
	}
	eventually(t, "PROXY v1 source 192.0.2.7", expectAnswer(ppDial("192.0.2.7"), "hi", "A:hi"))
	eventually(t, "PROXY v1 source 192.0.2.8", expectAnswer(ppDial("192.0.2.8"), "hi", "B:hi"))

	// chash on remote_addr: a client keeps its node, and clients spread over both
	put(t, n, "/stream_routes/any", fmt.Sprintf(`{"upstream":{"type":"chash","hash_on":"vars","key":"remote_addr","nodes":{"%s":1,"%s":1}}}`, a, b))
	eventually(t, "chash stream route", func() error {
		got, err := roundTrip(ppDial("198.51.100.1"), "c")
		if err != nil || !strings.HasSuffix(got, ":c") {
			return fmt.Errorf("%q %v", got, err)
		}
		return nil
	})
	seen := map[string]bool{}
	for i := range 20 {
		src := fmt.Sprintf("198.51.100.%d", i+1)
		first, err := roundTrip(ppDial(src), "c")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if again, _ := roundTrip(ppDial(src), "c"); again != first {
				t.Fatalf("chash: client %s went to %q then %q", src, first, again)
			}
		}
		seen[first] = true
	}
	if len(seen) != 2 {
		t.Errorf("chash: 20 clients all hashed to %v", seen)
	}
}

func TestStreamUDP(t *testing.T) {
	u := echoUDP(t, "U:")
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	n := startNode(t, p, streamConfig(p, plain, tlsPort, pp, udp), "")
	body, _ := json.Marshal(map[string]any{"upstream": map[string]any{"type": "roundrobin", "scheme": "udp", "nodes": map[string]int{u: 1}}})
	put(t, n, "/stream_routes/u", string(body))
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 100)
	eventually(t, "UDP datagram proxied", func() error {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		k, err := c.Read(buf)
		if err != nil || string(buf[:k]) != "U:ping" {
			return fmt.Errorf("got %q %v", buf[:k], err)
		}
		return nil
	})
	// the session carries later datagrams both ways
	for i := range 3 {
		msg := fmt.Sprintf("m%d", i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := c.Read(buf)
		if err != nil || string(buf[:k]) != "U:"+msg {
			t.Fatalf("datagram %d: %q %v", i, buf[:k], err)
		}
	}
}

// TestStreamPrometheus: with prometheus in stream_plugins, a stream route's connections are
// counted in apisix_stream_connection_total{route}.
func TestStreamPrometheus(t *testing.T) {
	a := echoTCP(t, "A:")
	p := newPorts(t)
	plain, tlsPort, pp, udp, export := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	cfg := streamConfig(p, plain, tlsPort, pp, udp) + promAttr(export, "") +
		"stream_plugins:\n  - ip-restriction\n  - limit-conn\n  - prometheus\n"
	n := startNode(t, p, cfg, "")
	put(t, n, "/stream_routes/s1", fmt.Sprintf(`{"plugins":{"prometheus":{}},"upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, a))
	dial := tcpDialer(plain)
	eventually(t, "stream route with prometheus", expectAnswer(dial, "hi", "A:hi"))
	for range 2 {
		if got, err := roundTrip(dial, "again"); got != "A:again" {
			t.Fatalf("answer %q %v", got, err)
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/apisix/prometheus/metrics", export)
	eventually(t, "apisix_stream_connection_total{route=s1} >= 3", func() error {
		series := promSeries(scrapeMetrics(t, url), "apisix_stream_connection_total", map[string]string{"route": "s1"})
		if len(series) != 1 || series[0].GetCounter().GetValue() < 3 {
			return fmt.Errorf("series %v", series)
		}
		return nil
	})
}

// TestStreamSyslog: syslog on a stream route sends one line per closed connection with its
// log_format over the stream variables.
func TestStreamSyslog(t *testing.T) {
	a := echoTCP(t, "A:")
	sysPort, lines := lineListener(t)
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	n := startNode(t, p, streamConfig(p, plain, tlsPort, pp, udp), "")
	put(t, n, "/stream_routes/log", fmt.Sprintf(`{"plugins":{"syslog":{"host":"127.0.0.1","port":%d,"batch_max_size":1,
		"log_format":{"client":"$remote_addr","port":"$server_port","sent":"$bytes_sent","up":"$upstream_addr"}}},
		"upstream":{"type":"roundrobin","nodes":{"%s":1}}}`, sysPort, a))
	eventually(t, "stream route with syslog", expectAnswer(tcpDialer(plain), "hi", "A:hi"))
	select {
	case l := <-lines:
		for _, want := range []string{`"client":"127.0.0.1"`, fmt.Sprintf(`"port":"%d"`, plain), `"sent":"5"`, `"up":"` + a + `"`, `"route_id":"log"`} {
			if !strings.Contains(l, want) {
				t.Errorf("syslog line %q lacks %s", l, want)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("syslog sent nothing for the stream connection")
	}
}

// TestStreamHealthCheck: a stream route's upstream with active tcp checks is listed by the
// control API under /v1/healthcheck/stream_routes/<id>, and a node that does not accept
// connections is marked unhealthy and no longer picked.
func TestStreamHealthCheck(t *testing.T) {
	a := echoTCP(t, "A:")
	dead := refused(t)
	p := newPorts(t)
	plain, tlsPort, pp, udp := freePort(t), freePort(t), freePort(t), freePort(t)
	n := startNode(t, p, streamConfig(p, plain, tlsPort, pp, udp), "")
	put(t, n, "/stream_routes/hc", fmt.Sprintf(`{"upstream":{"type":"roundrobin","nodes":{"%s":1,"%s":1},"retries":0,
		"checks":{"active":{"type":"tcp","healthy":{"interval":1,"successes":1},"unhealthy":{"interval":1,"tcp_failures":1}}}}}`, a, dead))
	dial := tcpDialer(plain)
	// the first connection starts the checker; the dead node is then left out
	eventually(t, "health-checked stream route", func() error {
		for range 4 {
			if got, err := roundTrip(dial, "h"); got != "A:h" {
				return fmt.Errorf("%q %v", got, err)
			}
		}
		return nil
	})
	r := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/v1/healthcheck/stream_routes/hc", p.Control), "", "")
	if r.Status != 200 || !strings.Contains(r.Body, `"name":"/apisix/stream_routes/hc"`) || !strings.Contains(r.Body, `"unhealthy"`) {
		t.Errorf("/v1/healthcheck/stream_routes/hc: %d %s", r.Status, r.Body)
	}
	if r := do(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/v1/healthcheck/stream_routes/nope", p.Control), "", ""); r.Status != 404 {
		t.Errorf("unknown stream route: %d %s", r.Status, r.Body)
	}
}
