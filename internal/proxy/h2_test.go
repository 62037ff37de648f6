package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicegw/sluice/internal/model"
)

// h2c is an HTTP/2 client with prior knowledge over plain TCP.
func h2c() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// h2cOrigin is an origin speaking HTTP/2 with prior knowledge (a gRPC-style node).
func h2cOrigin(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func readAll(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// TestSniffPreface: the preface goes to HTTP/2; anything else, however short, goes to
// HTTP/1.1 without waiting for 24 bytes.
func TestSniffPreface(t *testing.T) {
	_, addr := startProxy(t, Options{})
	for _, raw := range []string{
		"GET / HTTP/1.0\r\n\r\n",            // 18 bytes: answered, not held for more
		"PRI / HTTP/1.1\r\nHost: a\r\n\r\n", // starts like the preface, is not it
		"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	} {
		resp, body, _ := rawExchange(t, addr, raw)
		if resp.ProtoMajor != 1 {
			t.Errorf("%q: answered as %s", raw, resp.Proto)
		}
		if raw[0] == 'G' && (resp.StatusCode != 404 || !strings.Contains(body, "404 Route Not Found")) {
			t.Errorf("%q: %d %q", raw, resp.StatusCode, body)
		}
	}
	resp, body := readAll(t, h2c(), mustRequest(t, "GET", "http://"+addr+"/", nil))
	if resp.ProtoMajor != 2 || resp.StatusCode != 404 || body != string(routeNotFound) {
		t.Errorf("h2c: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}

func mustRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestH2SameAnswersAsHTTP1: gateway errors and upstream answers are the same over both
// engines (status, body, Content-Type, Server, X-APISIX-Upstream-Status).
func TestH2SameAnswersAsHTTP1(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/500":
			w.WriteHeader(500)
			io.WriteString(w, "boom")
		default:
			w.Header().Set("Connection", "X-Hop")
			w.Header().Set("X-Hop", "must not pass")
			io.WriteString(w, "ok "+r.Host)
		}
	})
	_, addr := startProxy(t, Options{},
		testRoute{id: "plug", uri: "/plug", up: &model.Upstream{Nodes: nodes(up)}, plugin: "key-auth"},
		testRoute{id: "empty", uri: "/empty", up: &model.Upstream{}},
		testRoute{id: "none", uri: "/none"},
		testRoute{id: "slow", uri: "/slow", up: &model.Upstream{Nodes: nodes(up)}, timeout: &model.Timeout{Connect: 1, Send: 1, Read: 0.3}},
		testRoute{id: "down", uri: "/down", up: &model.Upstream{Nodes: nodes(refusedAddr(t), refusedAddr(t))}},
		testRoute{id: "500", uri: "/500", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "ok", uri: "/ok", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "rewrite", uri: "/rewrite", up: &model.Upstream{Nodes: nodes(up), PassHost: "rewrite", UpstreamHost: "up.example"}},
	)
	h1, h2 := &http.Client{Timeout: 10 * time.Second}, h2c()
	for _, path := range []string{"/nothing", "/plug", "/empty", "/none", "/slow", "/down", "/500", "/ok", "/rewrite"} {
		r1, b1 := readAll(t, h1, mustRequest(t, "GET", "http://"+addr+path, nil))
		r2, b2 := readAll(t, h2, mustRequest(t, "GET", "http://"+addr+path, nil))
		if r2.ProtoMajor != 2 {
			t.Fatalf("%s: client spoke %s", path, r2.Proto)
		}
		if r1.StatusCode != r2.StatusCode || b1 != b2 {
			t.Errorf("%s: HTTP/1.1 %d %q, HTTP/2 %d %q", path, r1.StatusCode, b1, r2.StatusCode, b2)
		}
		for _, h := range []string{"Content-Type", "Server", "X-APISIX-Upstream-Status", "X-Hop", "Connection"} {
			if r1.Header.Get(h) != r2.Header.Get(h) {
				t.Errorf("%s: %s: HTTP/1.1 %q, HTTP/2 %q", path, h, r1.Header.Get(h), r2.Header.Get(h))
			}
		}
	}
}

// TestH2GRPCUpstream: scheme grpc goes out over h2c; the body streams both ways, trailers
// pass, connect failures move to another node, silence past the read timeout is 504, and a
// node failing mid-body resets the client's stream.
func TestH2GRPCUpstream(t *testing.T) {
	up := h2cOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2, got "+r.Proto, 505)
			return
		}
		switch r.URL.Path {
		case "/svc/Echo": // full duplex: every chunk read is written back at once
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("X-Te", r.Header.Get("Te"))
			w.Header().Set("X-Real-Seen", r.Header.Get("X-Real-IP"))
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			buf := make([]byte, 1024)
			for {
				n, err := r.Body.Read(buf)
				if n > 0 {
					w.Write(buf[:n])
					w.(http.Flusher).Flush()
				}
				if err != nil {
					break
				}
			}
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", "all good")
		case "/svc/Silent":
			<-r.Context().Done()
		case "/svc/Broken":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	})
	_, addr := startProxy(t, Options{},
		testRoute{id: "grpc", uri: "/svc/*", up: &model.Upstream{Scheme: "grpc", Nodes: nodes(refusedAddr(t), up)},
			timeout: &model.Timeout{Connect: 1, Send: 1, Read: 0.5}},
	)
	c := h2c()

	t.Run("full duplex with trailers", func(t *testing.T) {
		for i := 0; i < 4; i++ { // round robin meets the refusing node: retried
			pr, pw := io.Pipe()
			// a gateway holding the stream back fails the test at this deadline, not hangs it
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stop := context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
			defer stop()
			req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/svc/Echo", pr)
			req.Header.Set("Te", "trailers")
			req.Header.Set("Content-Type", "application/grpc")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			// each message comes back before the next is sent: nothing is buffered
			buf := make([]byte, 64)
			for _, msg := range []string{"one", "two", "three"} {
				if _, err := io.WriteString(pw, msg); err != nil {
					t.Fatal(err)
				}
				n, err := io.ReadAtLeast(resp.Body, buf, len(msg))
				if err != nil || string(buf[:n]) != msg {
					t.Fatalf("echo of %q: %q %v", msg, buf[:n], err)
				}
			}
			pw.Close()
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Fatalf("after last message: %q %v", rest, err)
			}
			resp.Body.Close()
			if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != "all good" {
				t.Errorf("trailers: %v", resp.Trailer)
			}
			if resp.Header.Get("X-Te") != "trailers" || resp.Header.Get("X-Real-Seen") != "127.0.0.1" {
				t.Errorf("node saw TE %q, X-Real-IP %q", resp.Header.Get("X-Te"), resp.Header.Get("X-Real-Seen"))
			}
			if resp.Header.Get("Server") != "sluice/test" {
				t.Errorf("Server = %q", resp.Header.Get("Server"))
			}
		}
	})

	t.Run("read timeout is 504", func(t *testing.T) {
		resp, body := readAll(t, c, mustRequest(t, "POST", "http://"+addr+"/svc/Silent", strings.NewReader("x")))
		if resp.StatusCode != 504 || !strings.Contains(body, "504 Gateway Time-out") {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	})

	t.Run("mid-body failure resets the stream", func(t *testing.T) {
		resp, err := c.Do(mustRequest(t, "POST", "http://"+addr+"/svc/Broken", strings.NewReader("x")))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Errorf("truncated body %q ended cleanly", b)
		}
	})
}

// TestH2Drain: Shutdown lets an in-flight HTTP/2 stream finish, then the connection ends.
func TestH2Drain(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		fmt.Fprint(w, "done")
	})
	s, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(up)}})
	res := getAsync(h2c(), "http://"+addr+"/")
	<-started
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a stream in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if r := <-res; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight stream: %q, %v", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRequestHeaderRole(t *testing.T) {
	tokens := connTokens(nil, []byte("close, X-Private"))
	for _, tc := range []struct {
		k    string
		want reqHeaderRole
	}{
		{"Te", hdrTE}, {"Connection", hdrConnection}, {"Keep-Alive", hdrDrop}, {"Upgrade", hdrDrop},
		{"Transfer-Encoding", hdrDrop}, {"Host", hdrDrop}, {"Content-Length", hdrDrop},
		{"X-Real-Ip", hdrDrop}, {"x-forwarded-for", hdrXFF}, {"X-Forwarded-Proto", hdrXFProto},
		{"X-Forwarded-Host", hdrXFHost}, {"X-Forwarded-Port", hdrXFPort}, {"X-Private", hdrDrop},
		{"Authorization", hdrPass}, {"Content-Type", hdrPass},
	} {
		if got := requestHeaderRole([]byte(tc.k), tokens); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.k, got, tc.want)
		}
	}
	for v, want := range map[string]bool{"trailers": true, "gzip, Trailers": true, "trailers;q=1": true, "gzip": false, "": false} {
		if teTrailers(v) != want {
			t.Errorf("teTrailers(%q) = %v", v, !want)
		}
	}
}

// TestH2ClientResetEndsUpstream: a client resetting its stream mid-response closes the
// HTTP/1.1 node's connection instead of leaving it waiting.
func TestH2ClientResetEndsUpstream(t *testing.T) {
	upstreamGone := make(chan struct{})
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the node notices its client (the gateway) went away
		close(upstreamGone)
	})
	_, addr := startProxy(t, Options{}, testRoute{id: "1", uri: "/", up: &model.Upstream{Nodes: nodes(up)}})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	resp, err := h2c().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first chunk: %q %v", buf, err)
	}
	cancel() // RST_STREAM
	select {
	case <-upstreamGone:
	case <-time.After(5 * time.Second):
		t.Fatal("the node's connection stayed open after the client reset its stream")
	}
}

// A grpc call cut by its read timeout while the client's body is still open: the HTTP/2
// transport reads the body after the handler returned, so that reader must not be part of the
// pooled context (it was: the late read found it reset and crashed the process).
func TestH2LateBodyReadAfterCancelledCall(t *testing.T) {
	up := h2cOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers, never reads the body
	})
	_, addr := startProxy(t, Options{},
		testRoute{id: "grpc", uri: "/svc/*", up: &model.Upstream{Scheme: "grpc", Nodes: nodes(up)},
			timeout: &model.Timeout{Connect: 1, Send: 1, Read: 0.3}},
	)
	c := h2c()
	for i := 0; i < 5; i++ {
		pr, pw := io.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/svc/Silent", pr)
		req.Header.Set("Content-Type", "application/grpc")
		go func() { io.WriteString(pw, "hello") }() // then the client keeps the stream open
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("call %d: status %d %q", i, resp.StatusCode, b[:min(len(b), 40)])
		}
		time.Sleep(200 * time.Millisecond)
		pw.Close()
		cancel()
	}
	time.Sleep(500 * time.Millisecond) // the late reads happen here
}

// getResult is what getAsync's request got: the body, or the error.
type getResult struct {
	body string
	err  error
}

// getAsync GETs url with c on a goroutine of its own; the result arrives on the channel.
func getAsync(c *http.Client, url string) <-chan getResult {
	res := make(chan getResult, 1)
	go func() {
		resp, err := c.Get(url)
		if err != nil {
			res <- getResult{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- getResult{string(b), err}
	}()
	return res
}
