package upstream

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
)

// countingServer is an httptest server that counts the connections it accepted and closed.
type countingServer struct {
	*httptest.Server
	accepted, closed atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	cs := &countingServer{Server: httptest.NewUnstartedServer(h)}
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cs.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			cs.closed.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func hostPort(t testing.TB, addr string) model.Node {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return model.Node{Host: h, Port: port, Weight: 1}
}

func upstreamFor(t testing.TB, spec *model.Upstream, addrs ...string) *Upstream {
	t.Helper()
	for _, a := range addrs {
		spec.Nodes = append(spec.Nodes, hostPort(t, a))
	}
	u, err := New("test", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

var testTimeouts = Timeouts{Connect: 5 * time.Second, Send: 5 * time.Second, Read: 5 * time.Second}

// get does one GET on n through the pool and returns the body.
func get(t testing.TB, n *Node, path string) (string, error) {
	t.Helper()
	c, err := n.Acquire(context.Background(), testTimeouts)
	if err != nil {
		return "", err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(path)
	req.Header.SetHost("upstream.test")
	err = RoundTrip(c, req, resp)
	c.Release(err == nil)
	return string(resp.Body()), err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolReuseAndCaps(t *testing.T) {
	hello := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) }
	for _, tc := range []struct {
		name     string
		pool     *model.KeepalivePool
		handler  http.HandlerFunc
		requests int
		accepted int64
	}{
		{"one connection for sequential requests", nil, hello, 50, 1},
		{"requests cap retires the connection", &model.KeepalivePool{Requests: 3}, hello, 7, 3},
		{"Connection: close is not reused", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			hello(w, r)
		}, 4, 4},
		{"chunked body is reused", nil, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello ")
			w.(http.Flusher).Flush()
			io.WriteString(w, r.URL.Path)
		}, 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCountingServer(t, tc.handler)
			u := upstreamFor(t, &model.Upstream{KeepalivePool: tc.pool}, srv.URL)
			n := u.Nodes()[0]
			for i := range tc.requests {
				body, err := get(t, n, "/r"+strconv.Itoa(i))
				if err != nil || body != "hello /r"+strconv.Itoa(i) {
					t.Fatalf("request %d: %q %v", i, body, err)
				}
			}
			if got := srv.accepted.Load(); got != tc.accepted {
				t.Fatalf("server accepted %d connections, want %d", got, tc.accepted)
			}
			if n.Dials() != int(tc.accepted) {
				t.Fatalf("dials %d", n.Dials())
			}
		})
	}
}

func TestPoolSizeCap(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	u := upstreamFor(t, &model.Upstream{KeepalivePool: &model.KeepalivePool{Size: 2}}, srv.URL)
	n := u.Nodes()[0]
	var conns []*Conn
	for range 5 {
		c, err := n.Acquire(context.Background(), testTimeouts)
		if err != nil {
			t.Fatal(err)
		}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://upstream.test/")
		if err := RoundTrip(c, req, resp); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if n.OpenConns() != 5 {
		t.Fatalf("open %d, want 5", n.OpenConns())
	}
	for _, c := range conns {
		c.Release(true)
	}
	if n.IdleConns() != 2 || n.OpenConns() != 2 {
		t.Fatalf("idle %d open %d, want 2 and 2", n.IdleConns(), n.OpenConns())
	}
	waitFor(t, "server to see 3 closes", func() bool { return srv.closed.Load() == 3 })
	// The two kept are the most recently released: still usable.
	for range 2 {
		if _, err := get(t, n, "/"); err != nil {
			t.Fatal(err)
		}
	}
	if srv.accepted.Load() != 5 {
		t.Fatalf("accepted %d", srv.accepted.Load())
	}
}

func TestPoolIdleTimeout(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	u := upstreamFor(t, &model.Upstream{KeepalivePool: &model.KeepalivePool{IdleTimeout: 0.05}}, srv.URL)
	n := u.Nodes()[0]
	if _, err := get(t, n, "/"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle connection to be closed", func() bool {
		return n.IdleConns() == 0 && n.OpenConns() == 0 && srv.closed.Load() == 1
	})
	if _, err := get(t, n, "/"); err != nil {
		t.Fatal(err)
	}
	if srv.accepted.Load() != 2 {
		t.Fatalf("accepted %d, want a fresh connection", srv.accepted.Load())
	}
}

func TestCloseUpstreamClosesIdle(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	u := upstreamFor(t, &model.Upstream{}, srv.URL)
	n := u.Nodes()[0]
	c, err := n.Acquire(context.Background(), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, n, "/"); err != nil { // a second connection, now idle
		t.Fatal(err)
	}
	u.Close()
	c.Release(true) // in flight during Close: closed, not pooled
	if n.IdleConns() != 0 || n.OpenConns() != 0 {
		t.Fatalf("idle %d open %d", n.IdleConns(), n.OpenConns())
	}
}

// rawServer accepts connections and runs serve on each.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequest consumes one request header (the tests send no bodies).
func readRequest(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

func TestErrorClassification(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()

	stall := make(chan struct{})
	silent := rawServer(t, func(c net.Conn) { // reads the request, never answers
		readRequest(bufio.NewReader(c))
		<-stall
	})
	headersThenStall := rawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
		<-stall
	})
	garbage := rawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "NOT HTTP\r\n\r\n")
	})
	hangup := rawServer(t, func(c net.Conn) { readRequest(bufio.NewReader(c)) })
	t.Cleanup(func() { close(stall) }) // runs before the servers' cleanups wait

	short := Timeouts{Connect: 5 * time.Second, Send: 5 * time.Second, Read: 100 * time.Millisecond}
	for _, tc := range []struct {
		name       string
		addr       string
		phase      Phase
		timeout    bool
		sent       bool
		status     int
		retryGET   bool
		retryPOST  bool
		connectErr bool
	}{
		{"refused", refused, PhaseConnect, false, false, 502, true, true, true},
		{"no response: read header timeout", silent, PhaseReadHeader, true, true, 504, true, false, false},
		{"headers then stall: read body timeout", headersThenStall, PhaseReadBody, true, true, 504, false, false, false},
		{"invalid response", garbage, PhaseReadHeader, false, true, 502, false, false, false},
		{"closed without response", hangup, PhaseReadHeader, false, true, 502, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := upstreamFor(t, &model.Upstream{}, tc.addr)
			n := u.Nodes()[0]
			err := func() error {
				c, err := n.Acquire(context.Background(), short)
				if err != nil {
					return err
				}
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://upstream.test/")
				err = RoundTrip(c, req, resp)
				c.Release(err == nil)
				return err
			}()
			e := asError(err)
			if e == nil {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Phase != tc.phase || e.Timeout != tc.timeout || e.Sent != tc.sent {
				t.Fatalf("%v: phase %v timeout %v sent %v", err, e.Phase, e.Timeout, e.Sent)
			}
			if IsConnectError(err) != tc.connectErr || IsTimeout(err) != tc.timeout ||
				RequestSent(err) != tc.sent || Status(err) != tc.status {
				t.Fatalf("%v: helpers disagree", err)
			}
			if CanRetry(err, true, true) != tc.retryGET || CanRetry(err, false, true) != tc.retryPOST {
				t.Fatalf("%v: CanRetry GET %v POST %v", err, CanRetry(err, true, true), CanRetry(err, false, true))
			}
			if n.OpenConns() != 0 {
				t.Fatalf("failed connection left open")
			}
		})
	}
}

// The read timeout bounds the gap between reads, not the whole response.
func TestReadTimeoutIsPerRead(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
		for range 8 {
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "x")
		}
	})
	u := upstreamFor(t, &model.Upstream{}, addr)
	c, err := u.Nodes()[0].Acquire(context.Background(), Timeouts{Connect: time.Second, Send: time.Second, Read: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://upstream.test/")
	if err := RoundTrip(c, req, resp); err != nil || string(resp.Body()) != "xxxxxxxx" {
		t.Fatalf("%q %v", resp.Body(), err)
	}
	c.Release(true)
}

// Deadlines persist on a pooled connection between requests (re-armed only every 1/128 of the
// timeout); a request with a different timeout on a reused connection still gets its own.
func TestReusedConnHonoursNewTimeout(t *testing.T) {
	stall := make(chan struct{})
	addr := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		readRequest(br) // second request: never answered
		<-stall
	})
	t.Cleanup(func() { close(stall) })
	u := upstreamFor(t, &model.Upstream{}, addr)
	n := u.Nodes()[0]
	long := Timeouts{Connect: time.Second, Send: time.Minute, Read: time.Minute}
	short := Timeouts{Connect: time.Second, Send: time.Second, Read: 150 * time.Millisecond}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://upstream.test/")

	c, err := n.Acquire(context.Background(), long)
	if err != nil {
		t.Fatal(err)
	}
	if err := RoundTrip(c, req, resp); err != nil {
		t.Fatal(err)
	}
	c.Release(true)

	c, err = n.Acquire(context.Background(), short)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Reused() {
		t.Fatal("second request did not reuse the pooled connection")
	}
	start := time.Now()
	err = RoundTrip(c, req, resp)
	c.Release(false)
	if !IsTimeout(err) {
		t.Fatalf("error %v, want a read timeout", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("timed out after %v, want ~150ms: the minute-long deadline of the first request was kept", el)
	}
}

func TestStreamedResponseIsIncremental(t *testing.T) {
	for _, tc := range []struct {
		name    string
		framing string // chunked or close-delimited or long content-length
	}{{"chunked", "chunked"}, {"content-length", "length"}, {"close-delimited", "close"}} {
		t.Run(tc.name, func(t *testing.T) {
			gate := make(chan struct{})
			chunk1 := strings.Repeat("a", 100)
			chunk2 := strings.Repeat("b", StreamThreshold+1)
			srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				switch tc.framing {
				case "length":
					w.Header().Set("Content-Length", strconv.Itoa(len(chunk1)+len(chunk2)))
				case "close":
					w.Header().Set("Connection", "close")
				}
				if tc.framing == "close" {
					// net/http would chunk; hijack to write a close-delimited body.
					c, bw, _ := w.(http.Hijacker).Hijack()
					defer c.Close()
					bw.WriteString("HTTP/1.1 200 OK\r\n\r\n" + chunk1)
					bw.Flush()
					<-gate
					bw.WriteString(chunk2)
					bw.Flush()
					return
				}
				io.WriteString(w, chunk1)
				w.(http.Flusher).Flush()
				<-gate // chunk 2 only after the client has read chunk 1
				io.WriteString(w, chunk2)
			})
			u := upstreamFor(t, &model.Upstream{}, srv.URL)
			n := u.Nodes()[0]

			done := make(chan error, 1)
			go func() {
				c, err := n.Acquire(context.Background(), testTimeouts)
				if err != nil {
					done <- err
					return
				}
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://upstream.test/")
				resp.StreamBody = true
				if err := RoundTrip(c, req, resp); err != nil {
					done <- err
					return
				}
				body := c.Body()
				if body == nil {
					done <- io.ErrNoProgress
					return
				}
				got := make([]byte, len(chunk1))
				if _, err := io.ReadFull(body, got); err != nil || string(got) != chunk1 {
					done <- err
					return
				}
				close(gate)
				rest, err := io.ReadAll(body)
				if err == nil && string(rest) != chunk2 {
					err = io.ErrUnexpectedEOF
				}
				if err == nil && !body.Complete() {
					err = io.ErrShortBuffer
				}
				body.Close()
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the body was not streamed: chunk 1 never reached the reader on its own")
			}
			wantIdle := 1
			if tc.framing == "close" {
				wantIdle = 0
			}
			if n.IdleConns() != wantIdle || n.OpenConns() != wantIdle {
				t.Fatalf("idle %d open %d, want %d", n.IdleConns(), n.OpenConns(), wantIdle)
			}
		})
	}
}

func TestStreamAbandonedClosesConnection(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("z", 3*StreamThreshold))
	})
	u := upstreamFor(t, &model.Upstream{}, srv.URL)
	n := u.Nodes()[0]
	c, err := n.Acquire(context.Background(), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://upstream.test/")
	resp.StreamBody = true
	if err := RoundTrip(c, req, resp); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := c.Body().Read(buf); err != nil {
		t.Fatal(err)
	}
	c.Body().Close()
	if n.IdleConns() != 0 || n.OpenConns() != 0 {
		t.Fatalf("half-read connection kept: idle %d open %d", n.IdleConns(), n.OpenConns())
	}
	// A small body is buffered even when streaming was asked for.
	if body, err := get(t, n, "/"); err != nil || len(body) != 3*StreamThreshold {
		t.Fatal(len(body), err)
	}
}

func TestStreamedRequestBody(t *testing.T) {
	var te atomic.Value
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		te.Store(strings.Join(r.TransferEncoding, ","))
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	u := upstreamFor(t, &model.Upstream{}, srv.URL)
	c, err := u.Nodes()[0].Acquire(context.Background(), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		for range 3 {
			io.WriteString(pw, "part;")
		}
		pw.Close()
	}()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://upstream.test/upload")
	req.Header.SetMethod("POST")
	req.SetBodyStream(pr, -1)
	if err := RoundTrip(c, req, resp); err != nil {
		t.Fatal(err)
	}
	c.Release(true)
	if string(resp.Body()) != "part;part;part;" || te.Load() != "chunked" {
		t.Fatalf("echo %q, transfer-encoding %v", resp.Body(), te.Load())
	}

	// A body source that fails is the client's fault, not the node's.
	c, err = u.Nodes()[0].Acquire(context.Background(), testTimeouts)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw = io.Pipe()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	req.SetBodyStream(pr, -1)
	err = RoundTrip(c, req, resp)
	c.Release(err == nil)
	if e := asError(err); e == nil || e.Phase != PhaseRequest || CanRetry(err, true, false) {
		t.Fatalf("failing body source: %v", err)
	}
}

// A pooled connection the node closed while idle: probed and replaced after a long idle,
// classified as stale when it fails.
func TestStaleIdleConnection(t *testing.T) {
	var served atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		served.Add(1)
		// then close: a keep-alive timeout on the node's side
	})
	u := upstreamFor(t, &model.Upstream{}, addr)
	n := u.Nodes()[0]
	if _, err := get(t, n, "/"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to close", func() bool { return served.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // let the FIN arrive

	// Fresh idle connection: no probe, the request fails as stale.
	_, err := get(t, n, "/")
	if !IsStale(err) || !CanRetry(err, true, true) || CanRetry(err, false, true) {
		t.Fatalf("reuse of closed connection: %v stale=%v", err, IsStale(err))
	}

	// Idle past the probe threshold: replaced by a new dial.
	if _, err := get(t, n, "/"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to close", func() bool { return served.Load() == 2 })
	time.Sleep(20 * time.Millisecond)
	n.pool.mu.Lock()
	n.pool.idle[0].idleSince -= int64(2 * probeAfterIdle)
	n.pool.mu.Unlock()
	dials := n.Dials()
	if _, err := get(t, n, "/"); err != nil {
		t.Fatalf("probed connection: %v", err)
	}
	if n.Dials() != dials+1 {
		t.Fatalf("dials %d, want %d", n.Dials(), dials+1)
	}
}

func TestHTTPSClientCertAndSNI(t *testing.T) {
	certPEM, keyPEM := selfSigned(t, "client")
	var gotSNI, gotCN atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSNI.Store(r.TLS.ServerName)
		if len(r.TLS.PeerCertificates) > 0 {
			gotCN.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		io.WriteString(w, "secure")
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	u := upstreamFor(t, &model.Upstream{
		Scheme: "https",
		TLS:    &model.UpstreamTLS{ClientCert: certPEM, ClientKey: keyPEM},
	}, srv.URL)
	n := u.Nodes()[0]
	for _, sni := range []string{"api.example.com", "api.example.com", "other.example.com"} {
		c, err := n.AcquireSNI(context.Background(), testTimeouts, sni)
		if err != nil {
			t.Fatal(err)
		}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://upstream.test/")
		err = RoundTrip(c, req, resp)
		c.Release(err == nil)
		if err != nil || string(resp.Body()) != "secure" {
			t.Fatalf("%q %v", resp.Body(), err)
		}
		if gotSNI.Load() != sni || gotCN.Load() != "client" {
			t.Fatalf("server saw SNI %v cert %v", gotSNI.Load(), gotCN.Load())
		}
	}
	if n.Dials() != 2 || n.IdleConns() != 2 {
		t.Fatalf("dials %d idle %d: want one connection per SNI", n.Dials(), n.IdleConns())
	}
	if _, err := New("k", &model.Upstream{Scheme: "https", TLS: &model.UpstreamTLS{ClientCert: certPEM, ClientKey: "junk"}}); err == nil {
		t.Fatal("bad key accepted")
	}
}

func selfSigned(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}
