package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The loggers through the real binary, each against a real receiving endpoint on loopback:
// an HTTP collector, a TCP listener, a UDP socket, a syslog TCP listener and a log file.

// logCollector is an HTTP endpoint that records the batches http-logger POSTs. The first
// failFirst requests are answered 500.
type logCollector struct {
	*httptest.Server
	mu        sync.Mutex
	posts     []logPost
	failFirst int
	got       chan struct{}
}

type logPost struct {
	Header http.Header
	URI    string
	Body   string
}

func newLogCollector(t testing.TB, failFirst int) *logCollector {
	c := &logCollector{failFirst: failFirst, got: make(chan struct{}, 1000)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.posts = append(c.posts, logPost{r.Header.Clone(), r.RequestURI, string(b)})
		n := len(c.posts)
		c.mu.Unlock()
		if n <= c.failFirst {
			w.WriteHeader(http.StatusInternalServerError)
		}
		select {
		case c.got <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(c.Close)
	return c
}

// waitPosts waits until n posts arrived and returns them all.
func (c *logCollector) waitPosts(t testing.TB, n int) []logPost {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		c.mu.Lock()
		got := append([]logPost(nil), c.posts...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("collector got %d posts, want %d: %v", len(got), n, got)
		}
	}
}

func (c *logCollector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.posts)
}

// logEntries decodes a JSON-array batch.
func logEntries(t testing.TB, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("batch is not a JSON array of entries: %v: %q", err, body)
	}
	return out
}

// logField walks nested maps: logField(m, "request", "headers", "x-test").
func logField(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func loggerNode(t *testing.T) (*node, *originServer) {
	t.Helper()
	p := newPorts(t)
	return startNode(t, p, p.configYAML(keyConfig(), ""), ""), newMirror(t)
}

// TestLoggerHTTPEntryAndBatches: the default entry's fields and values after known requests,
// batch_max_size respected, the tail flushed after inactive_timeout.
func TestLoggerHTTPEntryAndBatches(t *testing.T) {
	n, o := loggerNode(t)
	col := newLogCollector(t, 0)
	putAll(t, n, o, [][2]string{
		{"/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"jack-key"}}}`},
		{"/services/s1", `{"upstream":` + upstreamOf(o) + `}`},
		{"/routes/hl", fmt.Sprintf(`{"uri":"/hl","service_id":"s1","plugins":{"key-auth":{},"http-logger":{"uri":%q,
			"batch_max_size":2,"inactive_timeout":1,"include_req_body":true,"include_resp_body":true,
			"max_resp_body_bytes":10,"auth_header":"Basic abc"}}}`, col.URL+"/collect?t=1")},
	})
	before := time.Now()
	r1 := send(t, n, req{path: "/hl?a=1&a=2&flag", header: []string{"apikey: jack-key", "X-Test: one"}})
	r2 := send(t, n, req{method: "POST", path: "/hl", header: []string{"apikey: jack-key"}, body: "hello-body"})
	r3 := send(t, n, req{path: "/hl"}) // no key: 401 from key-auth, still logged
	if r1.Status != 200 || r2.Status != 200 || r3.Status != 401 {
		t.Fatalf("statuses %d %d %d", r1.Status, r2.Status, r3.Status)
	}
	posts := col.waitPosts(t, 2)
	first := logEntries(t, posts[0].Body)
	if len(first) != 2 {
		t.Fatalf("first batch has %d entries, want batch_max_size 2", len(first))
	}
	if h := posts[0].Header; h.Get("Content-Type") != "application/json" || h.Get("Authorization") != "Basic abc" {
		t.Errorf("collector headers %v", h)
	}
	if posts[0].URI != "/collect?t=1" {
		t.Errorf("posted to %q", posts[0].URI)
	}
	e := first[0]
	want := map[string]any{
		"route_id": "hl", "service_id": "s1", "client_ip": "127.0.0.1", "upstream": o.addr(),
	}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	checks := []struct {
		keys []string
		want any
	}{
		{[]string{"request", "method"}, "GET"},
		{[]string{"request", "uri"}, "/hl?a=1&a=2&flag"},
		{[]string{"request", "url"}, fmt.Sprintf("http://127.0.0.1:%d/hl?a=1&a=2&flag", n.ports.Proxy)},
		{[]string{"request", "headers", "x-test"}, "one"},
		{[]string{"request", "headers", "apikey"}, "jack-key"},
		{[]string{"response", "status"}, 200.0},
		{[]string{"response", "headers", "content-type"}, "application/json"},
		{[]string{"response", "body"}, r1.Body[:10]},
		{[]string{"server", "version"}, "3.18.0"},
		{[]string{"consumer", "username"}, "jack"},
	}
	for _, c := range checks {
		if got := logField(e, c.keys...); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", strings.Join(c.keys, "."), got, c.want)
		}
	}
	qs, _ := json.Marshal(logField(e, "request", "querystring"))
	if string(qs) != `{"a":["1","2"],"flag":true}` {
		t.Errorf("querystring %s", qs)
	}
	if sz, _ := logField(e, "request", "size").(float64); sz < 50 {
		t.Errorf("request.size %v", logField(e, "request", "size"))
	}
	if sz, _ := logField(e, "response", "size").(float64); sz < float64(len(r1.Body)) {
		t.Errorf("response.size %v < body %d", sz, len(r1.Body))
	}
	st, _ := e["start_time"].(float64)
	if d := int64(st) - before.UnixMilli(); d < -1000 || d > 10000 {
		t.Errorf("start_time %v not near %d", e["start_time"], before.UnixMilli())
	}
	lat, _ := e["latency"].(float64)
	ul, hasUL := e["upstream_latency"].(float64)
	al, _ := e["apisix_latency"].(float64)
	if lat <= 0 || !hasUL || ul < 0 || al < 0 || al > lat {
		t.Errorf("latency %v upstream_latency %v apisix_latency %v", e["latency"], e["upstream_latency"], e["apisix_latency"])
	}
	if h, _ := logField(e, "server", "hostname").(string); h == "" {
		t.Error("server.hostname empty")
	}
	if got := logField(first[1], "request", "body"); got != "hello-body" {
		t.Errorf("POST request.body %v", got)
	}
	// The third request arrives alone: flushed after inactive_timeout (1 s).
	second := logEntries(t, posts[1].Body)
	if len(second) != 1 || logField(second[0], "response", "status") != 401.0 {
		t.Fatalf("tail batch %v", posts[1].Body)
	}
	if _, ok := second[0]["consumer"]; ok {
		t.Errorf("unauthenticated request logged a consumer: %v", second[0]["consumer"])
	}
	if _, ok := second[0]["upstream_latency"]; ok {
		t.Errorf("request not proxied has upstream_latency %v", second[0]["upstream_latency"])
	}
}

// TestLoggerHTTPRetriesAndLogFormat: a failing collector gets the batch again
// max_retry_count times; plugin metadata's log_format shapes entries; new_line concat.
func TestLoggerHTTPRetriesAndLogFormat(t *testing.T) {
	n, o := loggerNode(t)
	failing := newLogCollector(t, 2)
	lines := newLogCollector(t, 0)
	putAll(t, n, o, [][2]string{
		{"/plugin_metadata/http-logger", `{"log_format":{"host":"$host","client_ip":"$remote_addr","m":{"method":"$request_method"}}}`},
		{"/routes/retry", routeJSON(o, "/retry", fmt.Sprintf(
			`{"http-logger":{"uri":%q,"batch_max_size":1,"max_retry_count":2,"retry_delay":0}}`, failing.URL))},
		{"/routes/nl", routeJSON(o, "/nl", fmt.Sprintf(
			`{"http-logger":{"uri":%q,"batch_max_size":2,"concat_method":"new_line","log_format":{"u":"$uri","a":"$arg_x"}}}`, lines.URL))},
	})
	if r := send(t, n, req{path: "/retry", host: "logs.example"}); r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	posts := failing.waitPosts(t, 3)
	for i, p := range posts {
		if p.Body != posts[0].Body {
			t.Errorf("attempt %d sent %q, want the same entry", i, p.Body)
		}
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(posts[0].Body), &entry); err != nil {
		t.Fatalf("batch_max_size 1 sends one object: %q", posts[0].Body)
	}
	want := map[string]any{"host": "logs.example", "client_ip": "127.0.0.1", "m": map[string]any{"method": "GET"}, "route_id": "retry"}
	if fmt.Sprint(entry) != fmt.Sprint(want) {
		t.Errorf("metadata log_format entry %v, want %v", entry, want)
	}
	time.Sleep(300 * time.Millisecond)
	if c := failing.count(); c != 3 {
		t.Errorf("%d attempts, want 3 (1 + max_retry_count 2)", c)
	}

	send(t, n, req{path: "/nl?x=1"})
	send(t, n, req{path: "/nl"})
	p := lines.waitPosts(t, 1)[0]
	if p.Body != `{"u":"/nl","a":"1","route_id":"nl"}`+"\n"+`{"u":"/nl","route_id":"nl"}` &&
		!sameLogLines(p.Body, `{"a":"1","route_id":"nl","u":"/nl"}`+"\n"+`{"route_id":"nl","u":"/nl"}`) {
		t.Errorf("new_line body %q", p.Body)
	}
	if ct := p.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("new_line content-type %q", ct)
	}

	// A bad include_req_body_expr is refused at write time with APISIX's message.
	r := do(t, "PUT", n.adminURL("/routes/badexpr"), configuredKey, routeJSON(o, "/badexpr", fmt.Sprintf(
		`{"http-logger":{"uri":%q,"include_req_body":true,"include_req_body_expr":[["arg_x","no-such-op","1"]]}}`, lines.URL)))
	if r.Status != 400 || !strings.Contains(r.Body,
		`failed to check the configuration of plugin http-logger err: failed to validate the 'include_req_body_expr' expression: `) {
		t.Errorf("bad include_req_body_expr: %d %s", r.Status, r.Body)
	}
}

// sameLogLines compares newline-joined JSON objects by value.
func sameLogLines(got, want string) bool {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		var a, b any
		if json.Unmarshal([]byte(g[i]), &a) != nil || json.Unmarshal([]byte(w[i]), &b) != nil ||
			fmt.Sprint(a) != fmt.Sprint(b) {
			return false
		}
	}
	return true
}

// TestLoggerTCPUDPSyslog: the socket loggers deliver entries to real listeners.
func TestLoggerTCPUDPSyslog(t *testing.T) {
	n, o := loggerNode(t)
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpLn.Close()
	tcpGot := make(chan string, 10)
	go func() {
		for {
			c, err := tcpLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				tcpGot <- string(b)
			}()
		}
	}()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	sysPort, sysGot := lineListener(t)
	port := func(a net.Addr) int {
		if u, ok := a.(*net.UDPAddr); ok {
			return u.Port
		}
		return a.(*net.TCPAddr).Port
	}
	putAll(t, n, o, [][2]string{
		{"/routes/tcp", routeJSON(o, "/tcp", fmt.Sprintf(
			`{"tcp-logger":{"host":"127.0.0.1","port":%d,"batch_max_size":2,"log_format":{"u":"$uri","s":"$status"}}}`, port(tcpLn.Addr())))},
		{"/routes/udp", routeJSON(o, "/udp", fmt.Sprintf(
			`{"udp-logger":{"host":"127.0.0.1","port":%d,"batch_max_size":1}}`, port(udp.LocalAddr())))},
		{"/routes/sys", routeJSON(o, "/sys", fmt.Sprintf(
			`{"syslog":{"host":"127.0.0.1","port":%d,"batch_max_size":1,"log_format":{"u":"$uri"}}}`, sysPort))},
	})

	send(t, n, req{path: "/tcp"})
	send(t, n, req{path: "/tcp"})
	select {
	case s := <-tcpGot:
		if s != `[{"s":"200","u":"/tcp","route_id":"tcp"},{"s":"200","u":"/tcp","route_id":"tcp"}]` {
			t.Errorf("tcp payload %q", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("tcp-logger sent nothing")
	}

	send(t, n, req{path: "/udp", header: []string{"X-U: 1"}})
	udp.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 65536)
	k, _, err := udp.ReadFrom(buf)
	if err != nil {
		t.Fatalf("udp-logger: %v", err)
	}
	var e map[string]any
	if err := json.Unmarshal(buf[:k], &e); err != nil {
		t.Fatalf("udp datagram %q: %v", buf[:k], err)
	}
	if logField(e, "request", "headers", "x-u") != "1" || e["route_id"] != "udp" {
		t.Errorf("udp entry %v", e)
	}

	send(t, n, req{path: "/sys", host: "sys.example"})
	line := regexp.MustCompile(`^<46>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z sys\.example apisix \d+ - - (\{.*\})$`)
	select {
	case s := <-sysGot:
		m := line.FindStringSubmatch(s)
		if m == nil || m[1] != `{"u":"/sys","route_id":"sys"}` {
			t.Errorf("syslog line %q", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("syslog sent nothing")
	}
}

// lineListener is a TCP listener on loopback that sends every line any client writes to the
// channel (a syslog server, for instance); it closes with the test.
func lineListener(t *testing.T) (port int, lines <-chan string) {
	t.Helper()
	ch := make(chan string, 16)
	addr := serveTCP(t, func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			ch <- sc.Text()
		}
	})
	return addr2port(addr), ch
}

func addr2port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// TestLoggerFileRotate: file-logger appends JSON lines, follows a rename (rotation) and a
// removal, and survives SIGUSR1 (reopen).
func TestLoggerFileRotate(t *testing.T) {
	n, o := loggerNode(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	putAll(t, n, o, [][2]string{
		{"/routes/file", routeJSON(o, "/file", fmt.Sprintf(`{"file-logger":{"path":%q}}`, logFile))},
	})
	send(t, n, req{path: "/file?n=1"})
	lines := waitLogFileLines(t, logFile, 1)
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if logField(e, "request", "uri") != "/file?n=1" || e["route_id"] != "file" {
		t.Errorf("entry %v", e)
	}
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	send(t, n, req{path: "/file?n=2"})
	if got := waitLogFileLines(t, logFile, 1); !strings.Contains(got[0], `"/file?n=2"`) {
		t.Errorf("after rotation %q", got)
	}
	if old := waitLogFileLines(t, logFile+".1", 1); len(old) != 1 {
		t.Errorf("rotated file has %d lines", len(old))
	}
	if err := n.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	send(t, n, req{path: "/file?n=3"})
	if got := waitLogFileLines(t, logFile, 2); !strings.Contains(got[1], `"/file?n=3"`) {
		t.Errorf("after SIGUSR1 %q", got)
	}

	// A directory that does not exist is a configuration error the Admin API reports.
	r := do(t, "PUT", n.adminURL("/routes/badfile"), configuredKey,
		routeJSON(o, "/badfile", `{"file-logger":{"path":"/nonexistent-dir-sluice/x.log"}}`))
	if r.Status != 400 || !strings.Contains(r.Body, "failed to check the configuration of plugin file-logger err: ") ||
		!strings.Contains(r.Body, "/nonexistent-dir-sluice") {
		t.Errorf("PUT with a missing log directory: %d %s", r.Status, r.Body)
	}
}

func waitLogFileLines(t testing.TB, p string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(p)
		if len(b) > 0 {
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) >= n {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %d lines", p, b, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBlackhole accepts TCP connections and never answers: a collector that hangs every request
// until the logger's timeout.
func logBlackhole(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// BenchmarkLoggerDeadEndpoint reports request latency percentiles through a route without a
// logger, with an http-logger whose collector hangs (blackhole), and with one whose port is
// closed. The log phase only enqueues, so the three should match. Figures only: no assertion.
func BenchmarkLoggerDeadEndpoint(b *testing.B) {
	p := newPorts(b)
	n := startNode(b, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(b)
	putAll(b, n, o, [][2]string{
		{"/routes/none", routeJSON(o, "/none", "")},
		{"/routes/hang", routeJSON(o, "/hang", fmt.Sprintf(
			`{"http-logger":{"uri":"http://%s/","batch_max_size":1,"timeout":3}}`, logBlackhole(b)))},
		{"/routes/closed", routeJSON(o, "/closed", fmt.Sprintf(
			`{"http-logger":{"uri":"http://%s/","batch_max_size":1}}`, refused(b)))},
	})
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
	for _, route := range []string{"none", "hang", "closed"} {
		b.Run(route, func(b *testing.B) {
			url := n.proxyURL("/" + route)
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				resp, err := cl.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
		})
	}
}
