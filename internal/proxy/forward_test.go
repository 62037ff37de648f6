package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sluicegw/sluice/internal/model"
)

func get(t testing.TB, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestForwardHeadersAndPaths(t *testing.T) {
	var seen *http.Request
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		seen = r.Clone(context.Background())
		w.Header().Set("Connection", "close, X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Server", "origin")
		w.Header().Set("X-End", "e2e")
		fmt.Fprint(w, "hello")
	})
	_, addr := startProxy(t, Options{},
		testRoute{id: "1", uri: "/p/*", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "2", uri: "/node", up: &model.Upstream{Nodes: nodes(up), PassHost: "node"}},
		testRoute{id: "3", uri: "/rewrite", up: &model.Upstream{Nodes: nodes(up), PassHost: "rewrite", UpstreamHost: "up.example"}},
	)

	resp, body := get(t, "http://"+addr+"/p/a/../b%2Fc?x=1&y=%20",
		"Host", "Example.COM:8080", "Connection", "X-Drop", "X-Drop", "v", "Te", "trailers",
		"X-Forwarded-For", "10.0.0.1", "X-Forwarded-Host", "evil", "X-Real-IP", "9.9.9.9")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := seen.RequestURI; got != "/p/b%2Fc?x=1&y=%20" {
		t.Errorf("upstream target = %q", got)
	}
	if seen.Host != "Example.COM:8080" {
		t.Errorf("pass_host pass: Host = %q", seen.Host)
	}
	for k, want := range map[string]string{
		// 127.0.0.1 is in real_ip_from by default: its X-Real-IP and X-Forwarded-* count
		"X-Real-Ip":         "9.9.9.9",
		"X-Forwarded-For":   "10.0.0.1, 127.0.0.1",
		"X-Forwarded-Host":  "evil",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Port":  addr[strings.LastIndexByte(addr, ':')+1:],
		"X-Drop":            "",
		"Te":                "",
	} {
		if got := seen.Header.Get(k); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("Server") != "sluice/test" || resp.Header.Get("X-Secret") != "" ||
		resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("X-End") != "e2e" || resp.Close {
		t.Errorf("response headers: %v (close %v)", resp.Header, resp.Close)
	}

	get(t, "http://"+addr+"/node", "Host", "client.example")
	if seen.Host != up {
		t.Errorf("pass_host node: Host = %q, want %q", seen.Host, up)
	}
	get(t, "http://"+addr+"/rewrite", "Host", "client.example")
	if seen.Host != "up.example" {
		t.Errorf("pass_host rewrite: Host = %q", seen.Host)
	}
}

func TestUntrustedForwardedHeaders(t *testing.T) {
	var seen http.Header
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() })
	_, addr := startProxy(t, Options{RealIPFrom: []string{"10.9.9.9"}},
		testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(up)}})
	get(t, "http://"+addr+"/", "Host", "h.example", "X-Forwarded-Host", "evil", "X-Forwarded-Proto", "https",
		"X-Real-IP", "9.9.9.9", "X-Forwarded-For", "1.2.3.4")
	for k, want := range map[string]string{
		"X-Real-Ip": "127.0.0.1", "X-Forwarded-Host": "h.example", "X-Forwarded-Proto": "http",
		"X-Forwarded-For": "1.2.3.4, 127.0.0.1",
	} {
		if got := seen.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestErrorsAndFailClosed(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
		}
		if r.URL.Path == "/500" {
			w.WriteHeader(500)
		}
	})
	_, addr := startProxy(t, Options{},
		testRoute{id: "plug", uri: "/plug", up: &model.Upstream{Nodes: nodes(up)}, plugin: "key-auth"},
		testRoute{id: "empty", uri: "/empty", up: &model.Upstream{}},
		testRoute{id: "none", uri: "/none"},
		testRoute{id: "slow", uri: "/slow", up: &model.Upstream{Nodes: nodes(up)}, timeout: &model.Timeout{Connect: 1, Send: 1, Read: 0.3}},
		testRoute{id: "down", uri: "/down", up: &model.Upstream{Nodes: nodes(refusedAddr(t), refusedAddr(t))}},
		testRoute{id: "500", uri: "/500", up: &model.Upstream{Nodes: nodes(up)}},
	)
	cases := []struct {
		path   string
		status int
		body   string
		ctype  string
	}{
		{"/nothing", 404, `{"error_msg":"404 Route Not Found"}` + "\n", "text/plain"},
		{"/plug", 503, "key-auth", "text/plain"},
		{"/empty", 503, "<title>503 Service Temporarily Unavailable</title>", "text/html"},
		{"/none", 503, "503 Service Temporarily Unavailable", "text/html"},
		{"/slow", 504, "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>sluice</center>", "text/html"},
		{"/down", 502, "502 Bad Gateway", "text/html"},
		{"/500", 500, "", ""},
	}
	for _, tc := range cases {
		resp, body := get(t, "http://"+addr+tc.path)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) || resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: %d %q (%s), want %d containing %q (%s)", tc.path, resp.StatusCode, body,
				resp.Header.Get("Content-Type"), tc.status, tc.body, tc.ctype)
		}
		if resp.Header.Get("Server") != "sluice/test" {
			t.Errorf("%s: Server = %q", tc.path, resp.Header.Get("Server"))
		}
		if tc.status == 500 && resp.Header.Get("X-APISIX-Upstream-Status") != "500" {
			t.Errorf("upstream 500: X-APISIX-Upstream-Status = %q", resp.Header.Get("X-APISIX-Upstream-Status"))
		}
		if tc.path == "/down" && resp.Header.Get("X-APISIX-Upstream-Status") != "" {
			t.Errorf("gateway 502 carries X-APISIX-Upstream-Status")
		}
	}
}

func TestRetryAndKeepAlive(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "ok %d", len(b))
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	up := strings.TrimPrefix(srv.URL, "http://")
	_, addr := startProxy(t, Options{},
		testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(refusedAddr(t), up)}})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for i := 0; i < 50; i++ {
		method := "GET"
		var body io.Reader
		if i%2 == 1 {
			method, body = "POST", strings.NewReader("payload")
		}
		req, _ := http.NewRequest(method, "http://"+addr+"/", body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "ok 0"
		if body != nil {
			want = "ok 7"
		}
		if resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("request %d: %d %q (the refusing node must be retried past)", i, resp.StatusCode, b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("origin saw %d connections for 50 requests, want 1 (keep-alive)", n)
	}
}

func TestSSEIncremental(t *testing.T) {
	next := make(chan struct{})
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next: // the client saw event 1 through the gateway
		case <-time.After(5 * time.Second):
			return
		}
		fmt.Fprint(w, "data: two\n\n")
	})
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/sse", up: &model.Upstream{Nodes: nodes(up)}})
	resp, err := http.Get("http://" + addr + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(next)
	br.ReadString('\n')
	if line, _ = br.ReadString('\n'); line != "data: two\n" {
		t.Fatalf("second event: %q", line)
	}
}

func TestWebSocketEcho(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, append([]byte("echo: "), msg...))
		}
	})
	_, addr := startProxy(t, Options{},
		testRoute{id: "ws", uri: "/ws", up: &model.Upstream{Nodes: nodes(up)}, websocket: true},
		testRoute{id: "plain", uri: "/plain", up: &model.Upstream{Nodes: nodes(up)}})
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("m%d", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != "echo: "+msg {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	// without enable_websocket the upgrade is not forwarded
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/plain", nil); err == nil || resp == nil || resp.StatusCode == 101 {
		t.Fatalf("upgrade passed on a route without enable_websocket")
	}
}

func TestShutdownDrains(t *testing.T) {
	started := make(chan struct{})
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(500 * time.Millisecond)
		fmt.Fprint(w, "done")
	})
	s, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(up)}})
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{body: string(b)}
	}()
	<-started
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still accepting after Shutdown")
	}
}

func TestBodiesAndSpecialResponses(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	var posts atomic.Int64
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/304":
			w.WriteHeader(304)
		case "/204":
			w.WriteHeader(204)
		case "/big-cl":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			io.WriteString(w, big)
		case "/big-chunked":
			for i := 0; i < len(big); i += 10 << 10 {
				io.WriteString(w, big[i:i+10<<10])
				w.(http.Flusher).Flush()
			}
		case "/echo":
			posts.Add(1)
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %s", len(b), r.Header.Get("Content-Length"))
		}
	})
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})

	req, _ := http.NewRequest("HEAD", "http://"+addr+"/head", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 1234 {
		t.Errorf("HEAD: %v %v %d", err, resp, resp.ContentLength)
	}
	for _, p := range []string{"/304", "/204"} {
		if resp, body := get(t, "http://"+addr+p); strconv.Itoa(resp.StatusCode) != p[1:] || body != "" {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	for _, p := range []string{"/big-cl", "/big-chunked"} {
		if resp, body := get(t, "http://"+addr+p); resp.StatusCode != 200 || body != big {
			t.Errorf("%s: %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
	// request bodies: small, chunked (sent on with a length), and larger than the buffer
	for _, tc := range []struct {
		body io.Reader
		size int64
		want string
	}{
		{strings.NewReader("hello"), 5, "5 5"},
		{io.MultiReader(strings.NewReader("chunked")), -1, "7 7"},
		{strings.NewReader(big), int64(len(big)), fmt.Sprintf("%d %d", len(big), len(big))},
		{io.MultiReader(strings.NewReader(big)), -1, fmt.Sprintf("%d ", len(big))},
	} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/echo", tc.body)
		req.ContentLength = tc.size
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tc.want {
			t.Errorf("POST %d bytes: %q, want %q", tc.size, b, tc.want)
		}
	}
	// a chunk error after the buffered prefix: the client gets 400, the node a cut request
	raw := "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n", len(big), big) + "zz\r\n"
	resp2, _, closed := rawExchange(t, addr, raw)
	if resp2.StatusCode != 400 || !closed {
		t.Errorf("bad chunk after the prefix: %d closed=%v", resp2.StatusCode, closed)
	}
}

// TestStalePooledConnection: an origin that closes every connection after one response
// without saying so. Reusing such a pooled connection fails; the gateway must retry on a
// new connection to the same (only) node instead of answering 502.
func TestStalePooledConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(ln.Addr().String())}})
	for i := 0; i < 5; i++ {
		resp, body := get(t, "http://"+addr+"/")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond) // let the origin's close land before the reuse
	}
	if accepted.Load() != 5 {
		t.Errorf("origin accepted %d connections, want 5", accepted.Load())
	}
}

// TestHTTP10StreamedBody: a body of unknown length goes to an HTTP/1.0 client delimited by
// the connection's end, never chunked (HTTP/1.0 has no chunked coding).
func TestHTTP10StreamedBody(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
	})
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: a\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(b), "\r\n\r\n")
	if strings.Contains(strings.ToLower(head), "transfer-encoding") || body != "part1part2" {
		t.Fatalf("HTTP/1.0 response:\n%s", b)
	}
}
