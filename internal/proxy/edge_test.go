package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// TestStrictEdge sends every framing case of reference/peers.md §4 as raw bytes. A refused
// request is answered with the listed status, the connection is closed, and the origin never
// sees it.
func TestStrictEdge(t *testing.T) {
	var hits atomic.Int64
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("origin"))
	})
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})

	long := strings.Repeat("a", 40<<10)
	cases := []struct {
		name   string
		raw    string
		status int
	}{
		{"control: plain GET", "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"control: chunked body", "POST /ok HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
		{"duplicate CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"conflicting CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
		{"non-numeric CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc", 400},
		{"signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
		{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"TE chunked, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 501},
		{"TE repeated", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk longer than declared", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400},
		{"chunk bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n", 400},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nabc\r\n0\r\n\r\n", 400},
		{"NUL in header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400},
		{"CR in header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", 400},
		{"control char in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", 400},
		{"bare LF header line", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400},
		{"space in header name", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400},
		{"NUL in target", "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"control char in target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad percent escape", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"truncated percent escape", "GET /a%1 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405},
		{"HTTP/2.0 on HTTP/1", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"bad version", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
		{"authority-form", "GET a.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"request line too long", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"headers too large", "GET / HTTP/1.1\r\nHost: a\r\nX-A: " + long + "\r\n\r\n", 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			resp, _, closed := rawExchange(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 200 {
				return
			}
			if !closed {
				t.Errorf("connection left open after a refused request")
			}
			if hits.Load() != before {
				t.Errorf("refused request reached the origin")
			}
		})
	}
}

func TestNormalizePaths(t *testing.T) {
	cases := []struct {
		target, up, match string
	}{
		{"/a/b", "/a/b", "/a/b"},
		{"/a/../b", "/b", "/b"},
		{"/a/./b", "/a/b", "/a/b"},
		{"/a/b/..", "/a/", "/a/"},
		{"/a/b/.", "/a/b/", "/a/b/"},
		{"/../../etc", "/etc", "/etc"},
		{"/a/%2e%2e/b", "/b", "/b"},
		{"/a/%2E./b", "/b", "/b"},
		{"/a/.%2e/b?x=/../", "/b", "/b"},
		{"/a%2Fb", "/a%2Fb", "/a/b"},
		{"/a%2F..%2Fb", "/a%2F..%2Fb", "/b"},
		{"//a///b", "//a///b", "/a/b"},
		{"/%41b", "/%41b", "/Ab"},
		{"/a/..%2f", "/a/..%2f", "/"},
		{"http://h.com/x/../y?q", "/y", "/y"},
	}
	for _, tc := range cases {
		p, _ := splitTarget([]byte(tc.target))
		up := removeDotSegments(nil, p)
		if string(up) != tc.up {
			t.Errorf("%s: upstream path %q, want %q", tc.target, up, tc.up)
		}
		m, _ := matchPath(nil, up, &Options{})
		if string(m) != tc.match {
			t.Errorf("%s: match path %q, want %q", tc.target, m, tc.match)
		}
	}
	for _, tc := range []struct {
		in, out string
		ok      bool
	}{
		{"/a;x/b", "/a/b", true},
		{"/a/b;jsessionid=1", "/a/b", true},
		{"/..;/admin", "", false},
		{"/a/;x/b", "", false},
		{"/plain", "/plain", true},
	} {
		got, ok := servletNormalize(nil, []byte(tc.in))
		if ok != tc.ok || ok && string(got) != tc.out {
			t.Errorf("servlet %q = %q, %v; want %q, %v", tc.in, got, ok, tc.out, tc.ok)
		}
	}
}

// TestSlowClients: a head or body that does not arrive within client_header_timeout or
// client_body_timeout is answered 408 and closed; an idle keep-alive connection is closed
// after keepalive_timeout.
func TestSlowClients(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {})
	_, addr := startProxy(t, Options{ClientHeaderTimeout: 300 * time.Millisecond, KeepaliveTimeout: 300 * time.Millisecond,
		ClientBodyTimeout: 300 * time.Millisecond},
		testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n") // never finished
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("slow head: %v %v", resp, err)
	}

	// a body that stalls past client_body_timeout: 408, never forwarded
	if resp, _, closed := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"); resp.StatusCode != 408 || !closed {
		t.Fatalf("stalled body: %d closed=%v", resp.StatusCode, closed)
	}

	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c2)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %v, want EOF (closed by the gateway)", err)
	}
}

func TestRawRequestLine(t *testing.T) {
	long := "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: a\r\n"
	for _, tc := range []struct{ msg, want string }{
		{`error when reading request headers: unsupported transfer-encoding: "gzip": buffer size=45, contents: "GET /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"`, "GET /te HTTP/1.1"},
		{`error when reading request headers: read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout: buffer size=27, contents: "GET /slow HTTP/1.1\r\nHost: a\r\n"`, "GET /slow HTTP/1.1"},
		{`error when reading request headers: cannot find http request method: buffer size=7, contents: "\x16\x03\x01\r\n\r\n"`, "\x16\x03\x01"},
		{fmt.Sprintf(`error when reading request headers: x: buffer size=%d, contents: %q...%q`, len(long), long[:200], long[len(long)-200:]), long[:200]},
		{`error when reading request headers: read tcp: i/o timeout`, ""},
		{`error when reading request headers: unsupported transfer-encoding: "x, contents: \"y\"": buffer size=9, contents: "GET /m HTTP/1.1\r\n"`, "GET /m HTTP/1.1"}, // the marker inside the error's own text
		{`error when reading request headers: x: buffer size=2, contents: "\r\n"`, ""},
		{`error when reading request headers: x: buffer size=2, contents: "unterminated`, ""},
	} {
		if got := string(rawRequestLine(tc.msg)); got != tc.want {
			t.Errorf("rawRequestLine(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// nginx's realip module over the header lines of a trusted peer (ngx_http_get_forwarded_addr).
func TestTrustedPeersRealIP(t *testing.T) {
	tp, err := parseTrusted([]string{"127.0.0.1", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		lines     []string
		recursive bool
		want      string // "addr" or "addr port"; "" : no address read
	}{
		{[]string{"203.0.113.7"}, false, "203.0.113.7 0"},
		{[]string{" 203.0.113.7 "}, false, "203.0.113.7 0"},
		{[]string{"203.0.113.7:5678"}, false, "203.0.113.7 5678"},
		{[]string{"[2001:db8::1]:443"}, false, "2001:db8::1 443"},
		{[]string{"2001:db8::1"}, false, "2001:db8::1 0"},
		{[]string{"::ffff:203.0.113.7"}, false, "203.0.113.7 0"},
		{[]string{"[2001:db8::1]"}, false, ""}, // brackets without a port: nginx refuses it
		{[]string{"203.0.113.7:0"}, false, ""},
		{[]string{"203.0.113.7:65536"}, false, ""},
		{[]string{"fe80::1%eth0"}, false, ""},
		{[]string{"198.51.100.1, 10.1.1.1"}, false, "10.1.1.1 0"},    // off: the rightmost
		{[]string{"198.51.100.1, 10.1.1.1"}, true, "198.51.100.1 0"}, // on: past the trusted one
		{[]string{"198.51.100.1,10.1.1.1 ,127.0.0.1"}, true, "198.51.100.1 0"},
		{[]string{"192.0.2.9, 198.51.100.1, 10.1.1.1"}, true, "198.51.100.1 0"}, // stops at the first untrusted
		{[]string{"10.2.2.2, 10.1.1.1"}, true, "10.2.2.2 0"},                    // all trusted: the leftmost
		{[]string{"bogus, 10.1.1.1"}, true, "10.1.1.1 0"},                       // an unreadable one ends the walk
		{[]string{"198.51.100.1, bogus"}, true, ""},
		{[]string{""}, false, ""},
		{[]string{" , "}, false, ""},
		// several lines: the last one counts; recursive goes on to earlier lines only past a
		// wholly trusted later one
		{[]string{"6.6.6.6", "203.0.113.7"}, false, "203.0.113.7 0"},
		{[]string{"6.6.6.6", "203.0.113.7"}, true, "203.0.113.7 0"},
		{[]string{"198.51.100.1", "10.1.1.1"}, true, "198.51.100.1 0"},
		{[]string{"198.51.100.1, 10.3.3.3", "10.1.1.1"}, true, "198.51.100.1 0"},
		{[]string{"6.6.6.6", "bogus"}, true, ""},
	} {
		lines := make([][]byte, len(tc.lines))
		for i, l := range tc.lines {
			lines[i] = []byte(l)
		}
		got, port, ok := tp.realIP(peer, tc.recursive, lines...)
		if tc.want == "" {
			if ok {
				t.Errorf("realIP(%q, %v) = %v %d, want none", tc.lines, tc.recursive, got, port)
			}
			continue
		}
		if s := fmt.Sprintf("%v %d", got, port); !ok || s != tc.want {
			t.Errorf("realIP(%q, %v) = %s, %v; want %s", tc.lines, tc.recursive, s, ok, tc.want)
		}
	}
	line := []byte("198.51.100.1:80, 10.1.1.1")
	if n := testing.AllocsPerRun(100, func() { tp.realIP(peer, true, line) }); n != 0 {
		t.Errorf("realIP allocates %v times", n)
	}
}
