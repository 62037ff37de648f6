package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// real-ip, multi-auth and proxy-buffering through the real binary (plugins.md §3 multi-auth,
// §4 real-ip; apisix.md §7 proxy-buffering). The test client connects from 127.0.0.1, which
// the default real_ip_from trusts, so these cases avoid X-Real-IP (nginx's real_ip_header)
// and take the address from other sources.
func TestPluginsMore(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)

	putAll(t, n, o, [][2]string{
		{"/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"jack-key"}}}`},
		{"/consumers", `{"username":"rose","plugins":{"basic-auth":{"username":"rose","password":"rose-pw"}}}`},
		{"/routes/rip-arg", routeJSON(o, "/rip-arg", `{"real-ip":{"source":"arg_realip"},`+
			`"proxy-rewrite":{"headers":{"set":{"X-Addr":"$remote_addr|$remote_port|$realip_remote_addr"}}}}`)},
		{"/routes/rip-block", routeJSON(o, "/rip-block", `{"real-ip":{"source":"http_x_client_ip"},"ip-restriction":{"blacklist":["1.2.3.0/24"]}}`)},
		{"/routes/rip-xff", routeJSON(o, "/rip-xff", `{"real-ip":{"source":"http_x_forwarded_for","recursive":true,"trusted_addresses":["127.0.0.1","10.0.0.0/8"]}}`)},
		{"/routes/rip-untrusted", routeJSON(o, "/rip-untrusted", `{"real-ip":{"source":"arg_realip","trusted_addresses":["10.0.0.0/8"]}}`)},
		{"/routes/ma", routeJSON(o, "/ma", `{"multi-auth":{"auth_plugins":[{"key-auth":{}},{"basic-auth":{}}]}}`)},
		{"/routes/pb", routeJSON(o, "/pb", `{"proxy-buffering":{"disable_proxy_buffering":true}}`)},
	})

	upstreamSaw := func(want map[string]string) func(t *testing.T, r response) {
		return func(t *testing.T, r response) {
			s := originSaw(t, r)
			for k, v := range want {
				if got := strings.Join(s.Header.Values(k), ", "); got != v {
					t.Errorf("upstream %s = %q, want %q", k, got, v)
				}
			}
		}
	}
	failed := jsonLine(`{"message":"Authorization Failed"}`)
	runCases(t, n, []pcase{
		// real-ip (§4): the address from a query argument, with its port.
		{name: "real-ip/arg with port", req: req{path: "/rip-arg?realip=1.2.3.4:5555"}, status: 200,
			check: upstreamSaw(map[string]string{"X-Real-IP": "1.2.3.4", "X-Forwarded-For": "1.2.3.4",
				"X-Addr": "1.2.3.4|5555|127.0.0.1"})},
		{name: "real-ip/ipv6 without port empties $remote_port", req: req{path: "/rip-arg?realip=2001:db8::1"}, status: 200,
			check: upstreamSaw(map[string]string{"X-Real-IP": "2001:db8::1", "X-Addr": "2001:db8::1||127.0.0.1"})},
		{name: "real-ip/invalid value leaves the peer", req: req{path: "/rip-arg?realip=nope"}, status: 200,
			check: upstreamSaw(map[string]string{"X-Real-IP": "127.0.0.1"})},
		{name: "real-ip/ip-restriction sees the new address", req: req{path: "/rip-block", header: []string{"X-Client-IP: 1.2.3.9"}},
			status: 403, body: jsonLine(`{"message":"Your IP address is not allowed"}`)},
		{name: "real-ip/other address passes", req: req{path: "/rip-block", header: []string{"X-Client-IP: 5.6.7.8"}}, status: 200,
			check: upstreamSaw(map[string]string{"X-Real-IP": "5.6.7.8"})},
		{name: "real-ip/recursive X-Forwarded-For skips trusted hops",
			req: req{path: "/rip-xff", header: []string{"X-Forwarded-For: 9.9.9.9, 8.8.8.8, 10.0.0.2"}}, status: 200,
			check: upstreamSaw(map[string]string{"X-Real-IP": "8.8.8.8", "X-Forwarded-For": "9.9.9.9, 8.8.8.8, 10.0.0.2, 127.0.0.1"})},
		{name: "real-ip/untrusted peer is not replaced", req: req{path: "/rip-untrusted?realip=1.2.3.4"}, status: 200,
			check: upstreamSaw(map[string]string{"X-Real-IP": "127.0.0.1"})},

		// multi-auth (§3): every sub-plugin fails → 401, the last WWW-Authenticate stays.
		{name: "multi-auth/no credentials", req: req{path: "/ma"}, status: 401, body: failed,
			header: map[string]string{"WWW-Authenticate": `Basic realm="basic"`}},
		{name: "multi-auth/wrong key and password", req: req{path: "/ma", header: []string{"apikey: nope", "Authorization: Basic cm9zZTpubw=="}},
			status: 401, body: failed},

		// proxy-buffering: accepted, the request proxies as usual.
		{name: "proxy-buffering/proxied", req: req{path: "/pb"}, status: 200, header: map[string]string{"X-Origin": "1"}},
	})

	t.Run("real-ip/h2c", func(t *testing.T) {
		resp, err := h2cClient(nil).Get(n.proxyURL("/rip-arg?realip=1.2.3.4:5555"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var s seen
		if err := json.Unmarshal(b, &s); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
		if s.Header.Get("X-Real-IP") != "1.2.3.4" || s.Header.Get("X-Addr") != "1.2.3.4|5555|127.0.0.1" {
			t.Errorf("upstream saw X-Real-IP %q X-Addr %q", s.Header.Get("X-Real-IP"), s.Header.Get("X-Addr"))
		}
	})

	t.Run("multi-auth/write-time checks", func(t *testing.T) {
		for _, c := range []struct{ plugins, want string }{
			{`[{"key-auth":{}},{"nope":{}}]`, "nope plugin did not found"},
			{`[{"key-auth":{}},{"cors":{}}]`, "cors plugin is not supported"},
		} {
			body := `{"uri":"/x","plugins":{"multi-auth":{"auth_plugins":` + c.plugins + `}},"upstream":` + upstreamOf(o) + `}`
			r := do(t, "PUT", n.adminURL("/routes/x"), configuredKey, body)
			want := `{"error_msg":"failed to check the configuration of plugin multi-auth err: ` + c.want + `"}`
			if r.Status != 400 || strings.TrimSpace(r.Body) != want {
				t.Errorf("%s: %d %q, want 400 %q", c.plugins, r.Status, r.Body, want)
			}
		}
	})

	t.Run("multi-auth/consumers", func(t *testing.T) {
		// The snapshot hands multi-auth every auth plugin's credentials, tagged with
		// Credential.Plugin, so each sub-plugin finds its own.
		runCases(t, n, []pcase{
			{name: "key", req: req{path: "/ma", header: []string{"apikey: jack-key"}}, status: 200,
				header: map[string]string{"WWW-Authenticate": ""},
				check:  upstreamSaw(map[string]string{"X-Consumer-Username": "jack"})},
			{name: "basic after failed key", req: req{path: "/ma", header: []string{"Authorization: Basic cm9zZTpyb3NlLXB3"}}, status: 200,
				header: map[string]string{"WWW-Authenticate": `apikey realm="key"`},
				check:  upstreamSaw(map[string]string{"X-Consumer-Username": "rose"})},
		})
	})
}

// proxy-buffering: an event stream reaches the client while the upstream is still sending
// (Sluice never buffers responses).
func TestProxyBufferingStreams(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sse" {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "data: two\n\n")
	})
	putAll(t, n, o, [][2]string{
		{"/routes/sse", routeJSON(o, "/sse", `{"proxy-buffering":{"disable_proxy_buffering":true}}`)},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hr, _ := http.NewRequestWithContext(ctx, "GET", n.proxyURL("/sse"), nil)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v (buffered until the upstream finished?)", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest %q", rest)
	}
}
