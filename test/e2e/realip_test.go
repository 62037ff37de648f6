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
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b [64]byte
		m, _ := resp.Body.Read(b[:])
		resp.Body.Close()
		if got := string(b[:m]); got != tc.want {
			t.Errorf("real_ip_recursive %s: upstream X-Real-IP %q, want %q", tc.recursive, got, tc.want)
		}
	}
}
