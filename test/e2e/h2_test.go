package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// HTTP/2 through the real binary: h2c with prior knowledge on the node_listen port that also
// serves HTTP/1.1, forwarded as HTTP/1.1 to http upstreams and over HTTP/2 to grpc ones.

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP, and counts its connections.
func h2cClient(dials *atomic.Int64) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				if dials != nil {
					dials.Add(1)
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
}

func TestH2CToHTTP1Upstream(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")

	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "proto=%s method=%s path=%s host=%s xrip=%s xff=%s xfp=%s xfh=%s body=%d",
			r.Proto, r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Real-IP"),
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-Host"), body)
	})
	put(t, n, "/routes/h2", fmt.Sprintf(`{"uri":"/h2/*","upstream":{"nodes":{"%s":1}}}`, origin.addr()))
	// HTTP/1.1 on the same port: the route is live
	waitFor(t, n.proxyURL("/h2/x"), func(st int, b string) bool { return st == 200 && strings.Contains(b, "proto=HTTP/1.1") })

	var dials atomic.Int64
	c := h2cClient(&dials)

	t.Run("GET is forwarded as HTTP/1.1 with forwarding headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", n.proxyURL("/h2/a/./b/../c%2Fd?q=1"), nil)
		req.Host = "api.example:8443"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("client spoke %s, want HTTP/2", resp.Proto)
		}
		want := "proto=HTTP/1.1 method=GET path=/h2/a/c%2Fd?q=1 host=api.example:8443 xrip=127.0.0.1 " +
			"xff=203.0.113.9, 127.0.0.1 xfp=http xfh=api.example body=0"
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("got %d\n %s\nwant\n %s", resp.StatusCode, b, want)
		}
		if s := resp.Header.Get("Server"); !strings.HasPrefix(s, "sluice/") {
			t.Errorf("Server = %q", s)
		}
	})

	t.Run("streamed request body", func(t *testing.T) {
		// unknown length and past the 64 KiB buffer: streamed on, chunked to the node
		const size = 1 << 20
		pr, pw := io.Pipe()
		go func() {
			chunk := make([]byte, 32<<10)
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			pw.Close()
		}()
		defer pr.Close() // ends the writer if the request failed early
		req, _ := http.NewRequest("POST", n.proxyURL("/h2/upload"), pr)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "method=POST") || !strings.HasSuffix(string(b), "body="+strconv.Itoa(size)) {
			t.Errorf("got %d %s", resp.StatusCode, b)
		}
	})

	t.Run("unmatched is APISIX's 404", func(t *testing.T) {
		resp, err := c.Get(n.proxyURL("/nowhere"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || string(b) != `{"error_msg":"404 Route Not Found"}`+"\n" {
			t.Errorf("got %d %q", resp.StatusCode, b)
		}
	})

	t.Run("router vars see HTTP/2 headers", func(t *testing.T) {
		only := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "vars matched") })
		put(t, n, "/routes/h2vars", fmt.Sprintf(`{"uri":"/h2vars","vars":[["http_x_env","==","h2"],["arg_k","==","v"]],"upstream":{"nodes":{"%s":1}}}`, only.addr()))
		get := func(env, query string) (int, string) {
			req, _ := http.NewRequest("GET", n.proxyURL("/h2vars"+query), nil)
			req.Header.Set("X-Env", env)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		deadline := time.Now().Add(10 * time.Second)
		for st, _ := get("h2", "?k=v"); st != 200; st, _ = get("h2", "?k=v") {
			if time.Now().After(deadline) {
				t.Fatalf("route with vars did not become live over h2c (last %d)", st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st, b := get("h2", "?k=v"); st != 200 || b != "vars matched" {
			t.Errorf("matching vars: %d %q", st, b)
		}
		if st, _ := get("h1", "?k=v"); st != 404 {
			t.Errorf("header var not matching: %d, want 404", st)
		}
		if st, _ := get("h2", "?k=w"); st != 404 {
			t.Errorf("arg var not matching: %d, want 404", st)
		}
	})

	t.Run("response streams event by event", func(t *testing.T) {
		got1 := make(chan struct{})
		sse := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: 1\n\n")
			w.(http.Flusher).Flush()
			if r.Header.Get("X-Stream") == "" {
				return // the liveness probe
			}
			select { // event 2 only once the client holds event 1
			case <-got1:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "data: 2\n\n")
		})
		put(t, n, "/routes/h2sse", fmt.Sprintf(`{"uri":"/h2sse","upstream":{"nodes":{"%s":1}}}`, sse.addr()))
		waitFor(t, n.proxyURL("/h2sse"), func(st int, _ string) bool { return st != 404 })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", n.proxyURL("/h2sse"), nil)
		req.Header.Set("X-Stream", "1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "data: 1\n" {
			t.Fatalf("first event: %q %v (the gateway held it back)", line, err)
		}
		close(got1)
		rest, _ := io.ReadAll(br)
		if string(rest) != "\ndata: 2\n\n" {
			t.Errorf("rest = %q", rest)
		}
	})

	t.Run("key-auth runs over h2c", func(t *testing.T) {
		// the same plugin chain as HTTP/1.1: never proxied without the key
		put(t, n, "/consumers", `{"username":"h2jack","plugins":{"key-auth":{"key":"h2-key"}}}`)
		put(t, n, "/routes/h2auth", fmt.Sprintf(`{"uri":"/h2auth","plugins":{"key-auth":{}},"upstream":{"nodes":{"%s":1}}}`, origin.addr()))
		waitFor(t, n.proxyURL("/h2auth?apikey=h2-key"), func(st int, _ string) bool { return st == 200 })
		get := func(key string) (*http.Response, string) {
			req, _ := http.NewRequest("GET", n.proxyURL("/h2auth"), nil)
			if key != "" {
				req.Header.Set("apikey", key)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("client spoke %s, want HTTP/2", resp.Proto)
			}
			return resp, string(b)
		}
		if resp, b := get(""); resp.StatusCode != 401 || b != `{"message":"Missing API key in request"}`+"\n" ||
			resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("without a key: %d %q %v, want 401 without reaching the origin", resp.StatusCode, b, resp.Header)
		}
		if resp, b := get("bad"); resp.StatusCode != 401 || strings.Contains(b, "proto=") {
			t.Errorf("with a wrong key: %d %q", resp.StatusCode, b)
		}
		if resp, b := get("h2-key"); resp.StatusCode != 200 || !strings.Contains(b, "proto=HTTP/1.1 method=GET path=/h2auth") {
			t.Errorf("with the key: %d %q", resp.StatusCode, b)
		}
	})

	t.Run("global rules run before the h2c 404", func(t *testing.T) {
		put(t, n, "/global_rules/h2", `{"plugins":{"response-rewrite":{"status_code":418,"body":"global rule\n","headers":{"set":{"X-Global":"1"}}}}}`)
		waitFor(t, n.proxyURL("/h2-nowhere"), func(st int, _ string) bool { return st == 418 })
		resp, err := c.Get(n.proxyURL("/h2-nowhere"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 418 || string(b) != "global rule\n" || resp.Header.Get("X-Global") != "1" {
			t.Errorf("unmatched with a global rule: %d %q %v", resp.StatusCode, b, resp.Header)
		}
		if r := do(t, "DELETE", n.adminURL("/global_rules/h2"), configuredKey, ""); r.Status != 200 {
			t.Fatalf("DELETE global rule: %d %s", r.Status, r.Body)
		}
		waitFor(t, n.proxyURL("/h2-nowhere"), func(st int, _ string) bool { return st == 404 })
	})

	if d := dials.Load(); d != 1 {
		t.Errorf("h2c client dialled %d connections, want 1 (all streams on one)", d)
	}
	// and HTTP/1.1 still answers on the port
	if r := do(t, "GET", n.proxyURL("/h2/after"), "", ""); r.Status != 200 || !strings.Contains(r.Body, "proto=HTTP/1.1") {
		t.Errorf("HTTP/1.1 after h2c: %d %q", r.Status, r.Body)
	}
}

func TestGRPCThroughGateway(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")

	hs := health.NewServer()
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	var sawRealIP atomic.Value
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			sawRealIP.Store(strings.Join(md.Get("x-real-ip"), ","))
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(gs, hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	_, grpcPort, _ := net.SplitHostPort(ln.Addr().String())
	_, deadPort, _ := net.SplitHostPort(refused(t))

	// two nodes, one refusing connections: every call must still succeed (connect errors
	// move to the other node)
	put(t, n, "/routes/grpc", fmt.Sprintf(`{"uri":"/grpc.health.v1.Health/*","upstream":{"scheme":"grpc",`+
		`"nodes":[{"host":"127.0.0.1","port":%s,"weight":1},{"host":"127.0.0.1","port":%s,"weight":1}]}}`, deadPort, grpcPort))

	cc, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", p.Proxy), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	hc := healthpb.NewHealthClient(cc)
	check := func(service string) (*healthpb.HealthCheckResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := check("svc")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grpc route did not become live: %v\n%s", err, n.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Run("unary", func(t *testing.T) {
		for i := 0; i < 6; i++ {
			resp, err := check("svc")
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if resp.Status != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("call %d: status %v", i, resp.Status)
			}
		}
		if ip, _ := sawRealIP.Load().(string); ip != "127.0.0.1" {
			t.Errorf("server saw x-real-ip %q", ip)
		}
	})

	t.Run("error status and message pass through", func(t *testing.T) {
		_, err := check("no-such-service")
		st, ok := status.FromError(err)
		if !ok || st.Code() != codes.NotFound || st.Message() != "unknown service" {
			t.Errorf("got %v, want NotFound \"unknown service\"", err)
		}
	})

	t.Run("server streaming arrives message by message", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
		if err != nil {
			t.Fatal(err)
		}
		// Each next status is set only after the client received the previous one: a
		// gateway that buffered the stream would never deliver the first.
		seq := []healthpb.HealthCheckResponse_ServingStatus{
			healthpb.HealthCheckResponse_SERVING,
			healthpb.HealthCheckResponse_NOT_SERVING,
			healthpb.HealthCheckResponse_SERVING,
		}
		for i, want := range seq {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if msg.Status != want {
				t.Fatalf("message %d: %v, want %v", i, msg.Status, want)
			}
			if i+1 < len(seq) {
				hs.SetServingStatus("svc", seq[i+1])
			}
		}
	})
}
