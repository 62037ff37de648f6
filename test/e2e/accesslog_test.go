package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitForFile waits until the file at path holds a line matching re (the access log flushes
// every second) and returns the file's content.
func waitForFile(t *testing.T, path string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		last = string(b)
		if re.MatchString(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never matched %s; it holds:\n%s", path, re, last)
	return ""
}

// The gateway's access log: APISIX's default format in <data-dir>/logs/access.log.
func TestAccessLogDefaultFormat(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	put(t, n, "/routes/r1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	waitFor(t, n.proxyURL("/r1?x=1"), bodyIs("hello"))

	path := filepath.Join(n.dataDir, "logs", "access.log")
	line := regexp.MustCompile(`127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] 127\.0\.0\.1:\d+ "GET /r1\?x=1 HTTP/1\.1" 200 5 \d+\.\d{3} "-" "Go-http-client/1\.1" ` +
		regexp.QuoteMeta(origin.addr()) + ` 200 \d+\.\d{3} "http://127\.0\.0\.1:\d+/r1\?x=1"`)
	waitForFile(t, path, line)
	do(t, "GET", n.proxyURL("/nowhere"), "", "")
	// not proxied: APISIX's presets $upstream_scheme "http", $upstream_host $http_host
	waitForFile(t, path, regexp.MustCompile(`"GET /nowhere HTTP/1\.1" 404 \d+ \d+\.\d{3} "-" "Go-http-client/1\.1" - - - "http://127\.0\.0\.1:\d+"`))
}

// A custom format with plugin-set and route variables, json escaping, and SIGUSR1 reopening
// the file after logrotate moved it.
func TestAccessLogCustomFormatAndReopen(t *testing.T) {
	p := newPorts(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	extra := fmt.Sprintf("nginx_config:\n  http:\n    access_log: %s\n    access_log_format: '{\"id\":\"$apisix_request_id\",\"uri\":\"$matched_uri\",\"ua\":\"$http_user_agent\",\"st\":$status}'\n    access_log_format_escape: json\n", logPath)
	n := startNode(t, p, p.configYAML(keyConfig(), extra), "")
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	put(t, n, "/routes/r1", fmt.Sprintf(`{"uri":"/items/*","plugins":{"request-id":{}},"upstream":{"nodes":{"%s":1},"type":"roundrobin"}}`, origin.addr()))
	waitFor(t, n.proxyURL("/items/1"), func(st int, b string) bool { return st == 200 })

	req, _ := http.NewRequest("GET", n.proxyURL("/items/2"), nil)
	req.Header.Set("User-Agent", `say "hi"`)
	req.Header.Set("X-Request-Id", "req-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitForFile(t, logPath, regexp.MustCompile(regexp.QuoteMeta(`{"id":"req-42","uri":"/items/*","ua":"say \"hi\"","st":200}`)))

	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// the reopen is asynchronous: keep requesting until a line lands in the new file
	deadline := time.Now().Add(10 * time.Second)
	for {
		do(t, "GET", n.proxyURL("/items/3"), "", "")
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), `"uri":"/items/*"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line in the reopened %s", logPath)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if b, _ := os.ReadFile(logPath + ".1"); !strings.Contains(string(b), "req-42") {
		t.Errorf("rotated file lost its lines: %s", b)
	}
}

// enable_access_log: false writes nothing.
func TestAccessLogOff(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), "nginx_config:\n  http:\n    enable_access_log: false\n"), "")
	do(t, "GET", n.proxyURL("/nothing"), "", "")
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(n.dataDir, "logs", "access.log")); !os.IsNotExist(err) {
		t.Errorf("access log exists with enable_access_log false: %v", err)
	}
}

// Requests refused at the edge are logged as nginx logs them (status, no upstream), and a
// connection that sent nothing before client_header_timeout is not.
func TestAccessLogEdgeRejections(t *testing.T) {
	p := newPorts(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	extra := fmt.Sprintf("nginx_config:\n  http:\n    access_log: %s\n    access_log_format: '$request $status $upstream_addr'\n    client_header_timeout: 1s\n", logPath)
	n := startNode(t, p, p.configYAML(keyConfig(), extra), "")
	waitFor(t, n.proxyURL("/ready"), func(st int, _ string) bool { return st == 404 })
	addr := fmt.Sprintf("127.0.0.1:%d", p.Proxy)

	exchange := func(raw string) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c) // every refusal closes the connection
		return string(b)
	}
	for _, tc := range []struct{ raw, status, line string }{
		{"TRACE /t HTTP/1.1\r\nHost: a\r\n\r\n", "405", `TRACE /t HTTP/1.1 405 -`},                          // checkRequest
		{"GET /bad%zz HTTP/1.1\r\nHost: a\r\n\r\n", "400", `GET /bad%zz HTTP/1.1 400 -`},                    // target
		{"GET /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501", `GET /te HTTP/1.1 501 -`}, // fasthttp's parser
		{"GET /slow HTTP/1.1\r\nHost: a\r\n", "408", `GET /slow HTTP/1.1 408 -`},                            // a head cut short
		{"\x16\x03\x01\x00\xa5\r\n\r\n", "400", `\x16\x03\x01\x00\xA5 400 -`},                               // TLS to the plain port
	} {
		if got := exchange(tc.raw); !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
			t.Fatalf("%q: answered %q, want %s", tc.raw, got, tc.status)
		}
		waitForFile(t, logPath, regexp.MustCompile(regexp.QuoteMeta(tc.line)))
	}

	// HTTP/2 (h2c): CONNECT is refused there too
	req, _ := http.NewRequest("CONNECT", n.proxyURL("/"), nil)
	resp, err := h2cClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.ProtoMajor != 2 {
		t.Fatalf("h2c CONNECT: %s %d, want HTTP/2 405", resp.Proto, resp.StatusCode)
	}
	waitForFile(t, logPath, regexp.MustCompile(`CONNECT \S* HTTP/2\.0 405 -`))

	// nothing sent: closed at client_header_timeout, no line; a request after it is the next
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	silent.SetDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(silent)
	silent.Close()
	do(t, "GET", n.proxyURL("/after-silent"), "", "")
	log := waitForFile(t, logPath, regexp.MustCompile(`GET /after-silent HTTP/1\.1 404 -`))
	if got := strings.Count(log, " 408 -\n"); got != 1 {
		t.Fatalf("access log has %d lines with 408, want 1 (the head cut short, not the silent connection):\n%s", got, log)
	}
}
