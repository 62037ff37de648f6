package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The forwarding engine through the real binary: routes written through the Admin API carry
// traffic to origins on loopback.

// originServer is an HTTP origin that counts the TCP connections it accepted.
type originServer struct {
	*httptest.Server
	conns atomic.Int64
}

func newOrigin(t testing.TB, h http.HandlerFunc) *originServer {
	t.Helper()
	o := &originServer{}
	o.Server = httptest.NewUnstartedServer(h)
	o.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			o.conns.Add(1)
		}
	}
	o.Start()
	t.Cleanup(o.Close)
	return o
}

func (o *originServer) addr() string { return strings.TrimPrefix(o.URL, "http://") }

func (n *node) proxyURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.ports.Proxy, path)
}

func put(t testing.TB, n *node, path, body string) {
	t.Helper()
	r := do(t, "PUT", n.adminURL(path), configuredKey, body)
	if r.Status != 200 && r.Status != 201 {
		t.Fatalf("PUT %s: %d %s", path, r.Status, r.Body)
	}
}

// waitFor polls url until ok accepts the answer (the route went live), or fails after 10 s.
func waitFor(t testing.TB, url string, ok func(status int, body string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ok(resp.StatusCode, string(b)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become live within 10s (last: %v)", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bodyIs(want string) func(int, string) bool {
	return func(st int, b string) bool { return st == 200 && b == want }
}

func refused(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestProxyEndToEnd(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")

	echo := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must not pass")
		w.Header().Set("Keep-Alive", "timeout=9")
		fmt.Fprintf(w, "path=%s host=%s xrip=%s xff=%s xfp=%s xfh=%s xfport=%s drop=%s te=%s",
			r.URL.RequestURI(), r.Host, r.Header.Get("X-Real-IP"), r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("X-Forwarded-Port"), r.Header.Get("X-Drop"), r.Header.Get("Te"))
	})
	put(t, n, "/routes/echo", fmt.Sprintf(`{"uri":"/echo/*","upstream":{"nodes":{"%s":1}}}`, echo.addr()))
	waitFor(t, n.proxyURL("/echo/x"), func(st int, _ string) bool { return st == 200 })

	t.Run("forwarding headers and hop-by-hop", func(t *testing.T) {
		req, _ := http.NewRequest("GET", n.proxyURL("/echo/a/./b/../c%2Fd?q=1"), nil)
		req.Host = "api.example:9999"
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("Connection", "X-Drop")
		req.Header.Set("X-Drop", "gone")
		req.Header.Set("Te", "trailers")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		port := strconv.Itoa(p.Proxy)
		want := "path=/echo/a/c%2Fd?q=1 host=api.example:9999 xrip=127.0.0.1 xff=203.0.113.7, 127.0.0.1 " +
			"xfp=http xfh=api.example xfport=" + port + " drop= te="
		if string(b) != want {
			t.Errorf("origin saw\n %s\nwant\n %s", b, want)
		}
		if resp.Header.Get("X-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
			t.Errorf("hop-by-hop response headers passed: %v", resp.Header)
		}
		if s := resp.Header.Get("Server"); !strings.HasPrefix(s, "sluice/") {
			t.Errorf("Server = %q", s)
		}
	})

	t.Run("keep-alive reuse", func(t *testing.T) {
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ka") })
		put(t, n, "/routes/ka", fmt.Sprintf(`{"uri":"/ka","upstream":{"nodes":{"%s":1}}}`, o.addr()))
		waitFor(t, n.proxyURL("/ka"), bodyIs("ka"))
		before := o.conns.Load()
		for i := 0; i < 50; i++ {
			if r := do(t, "GET", n.proxyURL("/ka"), "", ""); r.Status != 200 {
				t.Fatalf("request %d: %d", i, r.Status)
			}
		}
		if got := o.conns.Load() - before; got > 0 || o.conns.Load() != 1 {
			t.Errorf("origin accepted %d connections over 51 requests, want 1", o.conns.Load())
		}
	})

	t.Run("route fields override service", func(t *testing.T) {
		a := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "service") })
		b := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "route") })
		put(t, n, "/services/s1", fmt.Sprintf(`{"upstream":{"nodes":{"%s":1}}}`, a.addr()))
		put(t, n, "/routes/svc", `{"uri":"/svc","service_id":"s1"}`)
		waitFor(t, n.proxyURL("/svc"), bodyIs("service"))
		put(t, n, "/routes/svc", fmt.Sprintf(`{"uri":"/svc","service_id":"s1","upstream":{"nodes":{"%s":1}}}`, b.addr()))
		waitFor(t, n.proxyURL("/svc"), bodyIs("route"))
	})

	t.Run("retries past a refusing node", func(t *testing.T) {
		ok := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "alive") })
		put(t, n, "/routes/retry", fmt.Sprintf(`{"uri":"/retry","upstream":{"nodes":[{"host":"127.0.0.1","port":%s,"weight":1},{"host":"127.0.0.1","port":%s,"weight":1}]}}`,
			strings.Split(refused(t), ":")[1], strings.Split(ok.addr(), ":")[1]))
		waitFor(t, n.proxyURL("/retry"), func(st int, _ string) bool { return st != 404 })
		for i := 0; i < 10; i++ {
			if r := do(t, "GET", n.proxyURL("/retry"), "", ""); r.Status != 200 || r.Body != "alive" {
				t.Fatalf("request %d: %d %q", i, r.Status, r.Body)
			}
		}
		put(t, n, "/routes/allrefuse", fmt.Sprintf(`{"uri":"/allrefuse","upstream":{"nodes":{"%s":1}}}`, refused(t)))
		waitFor(t, n.proxyURL("/allrefuse"), func(st int, b string) bool {
			return st == 502 && strings.Contains(b, "<title>502 Bad Gateway</title>")
		})
	})

	t.Run("read timeout is 504", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		slow := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		put(t, n, "/routes/slow", fmt.Sprintf(`{"uri":"/slow","timeout":{"connect":1,"send":1,"read":0.5},"upstream":{"nodes":{"%s":1}}}`, slow.addr()))
		waitFor(t, n.proxyURL("/slow"), func(st int, b string) bool {
			return st == 504 && strings.Contains(b, "504 Gateway Time-out")
		})
	})

	t.Run("unmatched is 404", func(t *testing.T) {
		r := do(t, "GET", n.proxyURL("/no/such/route"), "", "")
		if r.Status != 404 || r.Body != `{"error_msg":"404 Route Not Found"}`+"\n" {
			t.Errorf("%d %q", r.Status, r.Body)
		}
	})

	t.Run("unsupported plugin fails closed", func(t *testing.T) {
		put(t, n, "/routes/plug", fmt.Sprintf(`{"uri":"/plug","plugins":{"grpc-web":{}},"upstream":{"nodes":{"%s":1}}}`, echo.addr()))
		waitFor(t, n.proxyURL("/plug"), func(st int, b string) bool {
			return st == 503 && strings.Contains(b, "grpc-web")
		})
	})

	t.Run("SSE arrives incrementally", func(t *testing.T) {
		next := make(chan struct{})
		sse := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next: // only after the client got event 1 through the gateway
			case <-time.After(10 * time.Second):
				return
			}
			io.WriteString(w, "data: two\n\n")
		})
		put(t, n, "/routes/sse", fmt.Sprintf(`{"uri":"/sse","upstream":{"nodes":{"%s":1}}}`, sse.addr()))
		waitFor(t, n.proxyURL("/nothing-yet"), func(int, string) bool { return true })
		deadline := time.Now().Add(10 * time.Second)
		var resp *http.Response
		for {
			var err error
			resp, err = http.Get(n.proxyURL("/sse"))
			if err == nil && resp.StatusCode == 200 {
				break
			}
			if resp != nil {
				resp.Body.Close()
			}
			if time.Now().After(deadline) {
				t.Fatal("sse route not live")
			}
			time.Sleep(20 * time.Millisecond)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); line != "data: one\n" {
			t.Fatalf("event 1: %q %v", line, err)
		}
		close(next)
		br.ReadString('\n')
		if line, err := br.ReadString('\n'); line != "data: two\n" {
			t.Fatalf("event 2: %q %v", line, err)
		}
	})

	t.Run("WebSocket echo", func(t *testing.T) {
		ws := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				mt, m, err := c.ReadMessage()
				if err != nil {
					return
				}
				c.WriteMessage(mt, append([]byte("echo "), m...))
			}
		})
		put(t, n, "/routes/ws", fmt.Sprintf(`{"uri":"/ws","enable_websocket":true,"upstream":{"nodes":{"%s":1}}}`, ws.addr()))
		var c *websocket.Conn
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			c, _, err = websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%d/ws", p.Proxy), nil)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("websocket dial: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		defer c.Close()
		for i := 0; i < 5; i++ {
			m := fmt.Sprintf("hi %d", i)
			c.WriteMessage(websocket.TextMessage, []byte(m))
			_, got, err := c.ReadMessage()
			if err != nil || string(got) != "echo "+m {
				t.Fatalf("got %q %v", got, err)
			}
		}
	})

	t.Run("1 GiB streamed upload in bounded memory", func(t *testing.T) {
		var received atomic.Int64
		sink := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			received.Store(n)
			fmt.Fprint(w, n)
		})
		put(t, n, "/routes/upload", fmt.Sprintf(`{"uri":"/upload","upstream":{"nodes":{"%s":1}}}`, sink.addr()))
		waitFor(t, n.proxyURL("/upload"), func(st int, _ string) bool { return st == 200 })
		pid := n.cmd.Process.Pid
		base := vmRSS(t, pid)
		var peak atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if r := vmRSS(t, pid); r > peak.Load() {
					peak.Store(r)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		const size = 1 << 30
		req, _ := http.NewRequest("POST", n.proxyURL("/upload"), io.LimitReader(zeros{}, size))
		req.ContentLength = size
		resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != strconv.Itoa(size) {
			t.Fatalf("upload: %d %q", resp.StatusCode, b)
		}
		growth := peak.Load() - base
		t.Logf("gateway RSS %d MiB before, peak %d MiB during a 1 GiB upload", base>>20, peak.Load()>>20)
		if growth >= 64<<20 {
			t.Errorf("RSS grew %d MiB during the upload, want < 64 MiB", growth>>20)
		}
	})

	t.Run("config change while traffic flows", func(t *testing.T) {
		a := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
		b := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
		put(t, n, "/upstreams/flip", fmt.Sprintf(`{"nodes":{"%s":1}}`, a.addr()))
		put(t, n, "/routes/flip", `{"uri":"/flip","upstream_id":"flip"}`)
		waitFor(t, n.proxyURL("/flip"), bodyIs("a"))
		stop := make(chan struct{})
		var total, failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := http.Get(n.proxyURL("/flip"))
					total.Add(1)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || (string(body) != "a" && string(body) != "b") {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %q", resp.StatusCode, body))
					}
				}
			}()
		}
		for i := 0; i < 20; i++ {
			o := a
			if i%2 == 0 {
				o = b
			}
			put(t, n, "/upstreams/flip", fmt.Sprintf(`{"nodes":{"%s":1}}`, o.addr()))
			put(t, n, "/routes/flip", fmt.Sprintf(`{"uri":"/flip","upstream_id":"flip","desc":"v%d"}`, i))
			time.Sleep(25 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		t.Logf("%d requests during 40 config writes", total.Load())
		if failed.Load() > 0 {
			t.Errorf("%d of %d requests failed during config changes; first: %v", failed.Load(), total.Load(), firstErr.Load())
		}
	})
}

// TestProxyDrainOnSIGTERM: SIGTERM lets an in-flight slow request finish.
func TestProxyDrainOnSIGTERM(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), "nginx_config:\n  worker_shutdown_timeout: 15s\n"), "")
	started := make(chan struct{}, 1)
	slow := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drain/slow" {
			started <- struct{}{}
			time.Sleep(1500 * time.Millisecond)
		}
		io.WriteString(w, "finished")
	})
	put(t, n, "/routes/d", fmt.Sprintf(`{"uri":"/drain/*","upstream":{"nodes":{"%s":1}}}`, slow.addr()))
	waitFor(t, n.proxyURL("/drain/fast"), bodyIs("finished"))

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(n.proxyURL("/drain/slow"))
		if err != nil {
			res <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	n.cmd.Process.Signal(syscall.SIGTERM)
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request during SIGTERM: %d %q %v", r.status, r.body, r.err)
	}
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("sluice did not exit after draining:\n%s", n.Logs())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// vmRSS reads a process's resident set size in bytes.
func vmRSS(t testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
