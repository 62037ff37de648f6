package e2e

import (
	"fmt"
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
