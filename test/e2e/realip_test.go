package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// nginx_config.http real_ip_header / real_ip_from / real_ip_recursive through the real binary:
// $remote_addr (sent upstream as X-Real-IP) is read from X-Forwarded-For past the trusted
// proxies.
func TestRealIPRecursive(t *testing.T) {
	for _, tc := range []struct {
		recursive string
		want      string
	}{
		{"\"on\"", "198.51.100.1"}, // past 10.1.1.1, trusted
		{"\"off\"", "10.1.1.1"},    // the rightmost
	} {
		p := newPorts(t)
		extra := "nginx_config:\n  http:\n    real_ip_header: X-Forwarded-For\n    real_ip_recursive: " + tc.recursive +
			"\n    real_ip_from:\n      - 127.0.0.1\n      - 10.0.0.0/8\n"
		n := startNode(t, p, p.configYAML(keyConfig(), extra), "")
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Header.Get("X-Real-IP")) })
		putAll(t, n, o, [][2]string{{"/routes/r", routeJSON(o, "/r", "")}})
		req, _ := http.NewRequest("GET", n.proxyURL("/r"), nil)
		req.Header.Set("X-Forwarded-For", "192.0.2.9, 198.51.100.1, 10.1.1.1")
		if got := realIPOf(t, req); got != tc.want {
			t.Errorf("real_ip_recursive %s: upstream X-Real-IP %q, want %q", tc.recursive, got, tc.want)
		}
		// a client's own line comes first; the trusted proxy's line, the last, counts
		req, _ = http.NewRequest("GET", n.proxyURL("/r"), nil)
		req.Header["X-Forwarded-For"] = []string{"6.6.6.6", "203.0.113.7"}
		if got := realIPOf(t, req); got != "203.0.113.7" {
			t.Errorf("real_ip_recursive %s, two X-Forwarded-For lines: upstream X-Real-IP %q, want the last line's", tc.recursive, got)
		}
	}
}

func realIPOf(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b [64]byte
	m, _ := resp.Body.Read(b[:])
	return string(b[:m])
}
