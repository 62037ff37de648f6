package stream

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

func route(t *testing.T, id string, spec RouteSpec) *Route {
	t.Helper()
	r, err := NewRoute(id, "/apisix/stream_routes/"+id, "", spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTableMatch(t *testing.T) {
	tbl := NewTable([]*Route{
		route(t, "net10", RouteSpec{RemoteAddr: "10.0.0.0/8"}),
		route(t, "port", RouteSpec{ServerPort: 9100}),
		route(t, "srv", RouteSpec{ServerAddr: "127.0.0.2"}),
		route(t, "sni-exact", RouteSpec{SNI: "a.test", RemoteAddr: "127.0.0.1"}),
		route(t, "sni-wild", RouteSpec{SNI: "*.test"}),
		route(t, "sni-deep", RouteSpec{SNI: "*.b.test"}),
		route(t, "sni-any", RouteSpec{SNI: "*"}),
		route(t, "all", RouteSpec{}),
	}, nil)
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		remote, server string
		port           int
		sni, want      string
	}{
		{"10.1.2.3", "127.0.0.1", 9200, "", "net10"},
		{"::ffff:10.1.2.3", "127.0.0.1", 9200, "", "net10"}, // a dual-stack listener's view
		{"127.0.0.1", "127.0.0.1", 9100, "", "port"},
		{"127.0.0.1", "127.0.0.2", 9200, "", "srv"},
		{"127.0.0.1", "127.0.0.1", 9200, "", "all"},
		{"127.0.0.1", "127.0.0.1", 9200, "A.test", "sni-exact"},
		{"127.0.0.9", "127.0.0.1", 9200, "a.test", "sni-wild"},   // the exact route refuses: shorter names next
		{"127.0.0.1", "127.0.0.1", 9200, "x.y.test", "sni-wild"}, // a stream wildcard covers any depth
		{"127.0.0.1", "127.0.0.1", 9200, "x.b.test", "sni-deep"},
		{"127.0.0.1", "127.0.0.1", 9200, "other.org", "sni-any"},
		{"10.0.0.1", "127.0.0.1", 9200, "other.org", "sni-any"},
	} {
		got := ""
		if r := tbl.Match(ip(tc.remote), ip(tc.server), tc.port, tc.sni); r != nil {
			got = r.ID
		}
		if got != tc.want {
			t.Errorf("Match(%s → %s:%d, sni %q) = %q, want %q", tc.remote, tc.server, tc.port, tc.sni, got, tc.want)
		}
	}
	if _, err := NewRoute("bad", "k", "", RouteSpec{RemoteAddr: "not-an-ip"}); err == nil {
		t.Error("NewRoute accepted remote_addr not-an-ip")
	}
	if (*Table)(nil).Match(ip("127.0.0.1"), ip("127.0.0.1"), 1, "") != nil {
		t.Error("a nil table matched")
	}
}

// TestPipeIdle: a session where only one side talks is not idle; one where neither does
// ends after the timeout.
func TestPipeIdle(t *testing.T) {
	c1, c2 := net.Pipe()
	n1, n2 := net.Pipe()
	done := make(chan struct{})
	go func() { pipe(c2, n1, 200*time.Millisecond); close(done) }()
	go io.Copy(io.Discard, c1)
	for range 5 { // the node streams for 500 ms while the client says nothing
		if _, err := n2.Write([]byte("x")); err != nil {
			t.Fatalf("the session ended while the node was sending: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("pipe ended while data flowed one way")
	default:
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("pipe did not end after the idle timeout")
	}
	c1.Close()
	n2.Close()
}

// slowPreread delays the preread of one client port.
type slowPreread struct {
	port  atomic.Value // string
	delay time.Duration
}

func (p *slowPreread) Preread(c plugin.StreamCtx) {
	v := plugin.ParseVar("remote_port")
	if port, _ := c.Lookup(&v); string(port) == p.port.Load() {
		time.Sleep(p.delay)
	}
}

// udpEchoServer serves a stream route over UDP to an echo node, with the given plugins; it
// returns the listener's address.
func udpEchoServer(t *testing.T, plugins ...Plugin) string {
	t.Helper()
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()
	eport := echo.LocalAddr().(*net.UDPAddr).Port
	u, err := upstream.New("u", &model.Upstream{Type: "roundrobin", Scheme: "udp", Nodes: model.Nodes{{Host: "127.0.0.1", Port: eport, Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	rt := route(t, "u", RouteSpec{})
	rt.Upstream = u
	rt.Plugins = plugins
	tbl := NewTable([]*Route{rt}, nil)
	s, err := New(Options{UDP: []string{"127.0.0.1:0"}, Routes: func() *Table { return tbl }})
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s.Addrs()[0].String()
}

// TestUDPSlowSetupBlocksNoOne: a session whose preread is slow (a limit-conn delay) holds up
// only its own client's datagrams.
func TestUDPSlowSetupBlocksNoOne(t *testing.T) {
	sp := &slowPreread{delay: 1500 * time.Millisecond}
	addr := udpEchoServer(t, Plugin{Name: "slow", Preread: sp})

	a, _ := net.Dial("udp", addr)
	defer a.Close()
	_, aport, _ := net.SplitHostPort(a.LocalAddr().String())
	sp.port.Store(aport)
	a.Write([]byte("slow"))
	b, _ := net.Dial("udp", addr)
	defer b.Close()
	start := time.Now()
	b.Write([]byte("fast"))
	b.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "fast" {
		t.Fatalf("the second client waited for the first one's setup: %q %v after %v", buf[:n], err, time.Since(start))
	}
	a.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "slow" {
		t.Fatalf("the slow client's datagram, queued during its setup: %q %v", buf[:n], err)
	}
}

// panicOnce panics in its first preread.
type panicOnce struct{ done atomic.Bool }

func (p *panicOnce) Preread(plugin.StreamCtx) {
	if p.done.CompareAndSwap(false, true) {
		panic("plugin bug")
	}
}

// TestUDPSessionPanicForgotten: a plugin panicking in a session's setup costs that datagram,
// not the client's later ones.
func TestUDPSessionPanicForgotten(t *testing.T) {
	addr := udpEchoServer(t, Plugin{Name: "panic", Preread: &panicOnce{}})
	c, _ := net.Dial("udp", addr)
	defer c.Close()
	buf := make([]byte, 64)
	deadline := time.Now().Add(3 * time.Second)
	for {
		c.Write([]byte("again"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "again" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("after a panicking setup the client's datagrams are never proxied")
		}
	}
}
