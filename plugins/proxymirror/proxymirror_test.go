package proxymirror

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

type copySeen struct {
	method, uri, host, body string
	header                  http.Header
}

// mirrorOrigin records the copies it receives; block, when set, holds each handler until
// it is closed (or the test ends).
func mirrorOrigin(t *testing.T, block chan struct{}) (*httptest.Server, chan copySeen) {
	t.Helper()
	got := make(chan copySeen, 4096)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- copySeen{r.Method, r.RequestURI, r.Host, string(b), r.Header}
		if block != nil {
			select {
			case <-block:
			case <-stop:
			}
		}
		io.WriteString(w, "mirror answer")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs before srv.Close
	return srv, got
}

func newMirror(t *testing.T, conf string) *Mirror {
	t.Helper()
	m := plugintest.MustNew(t, "proxy-mirror", conf).(*Mirror)
	t.Cleanup(m.Close)
	return m
}

func hostConf(srv *httptest.Server, extra string) string {
	return `{"host":"` + srv.URL + `"` + extra + `}`
}

func run(m *Mirror, c *plugintest.Ctx) {
	m.Rewrite(c)
	m.BeforeProxy(c)
}

func wait(t *testing.T, got chan copySeen) copySeen {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("mirror received nothing within 5s")
	}
	return copySeen{}
}

func TestMirrorCopiesRequest(t *testing.T) {
	srv, got := mirrorOrigin(t, nil)
	m := newMirror(t, hostConf(srv, ""))
	c := plugintest.New()
	c.MethodV = "POST"
	c.Path = "/orders/1"
	c.Query = url.Values{"x": {"1"}}
	c.ReqHeader.Set("Host", "api.test:9080")
	c.ReqHeader.Set("X-Trace", "abc")
	c.ReqHeader.Set("Connection", "close")
	c.ReqHeader.Set("Content-Length", "7")
	c.ReqBody = []byte("payload")
	run(m, c)
	m.BeforeProxy(c) // a retry: no second copy
	s := wait(t, got)
	if s.method != "POST" || s.uri != "/orders/1?x=1" || s.host != "api.test:9080" || s.body != "payload" ||
		s.header.Get("X-Trace") != "abc" {
		t.Errorf("copy = %+v", s)
	}
	select {
	case s := <-got:
		t.Errorf("second copy after a retry: %+v", s)
	case <-time.After(200 * time.Millisecond):
	}
	if c.Exited() {
		t.Error("the mirror ended the request")
	}
}

func TestMirrorURI(t *testing.T) {
	for _, tc := range []struct{ conf, reqURI, want string }{
		{`{"host":"http://m"}`, "/a/b?x=1", "/a/b?x=1"},
		{`{"host":"http://m","path":"/p"}`, "/a/b?x=1", "/p?x=1"},
		{`{"host":"http://m","path":"/p"}`, "/a/b", "/p"},
		{`{"host":"http://m","path":"/p","path_concat_mode":"replace"}`, "/a?", "/p?"},
		{`{"host":"http://m","path":"/p","path_concat_mode":"prefix"}`, "/a/b?x=1", "/p/a/b?x=1"},
	} {
		m := newMirror(t, tc.conf)
		if got := m.mirrorURI([]byte(tc.reqURI)); got != tc.want {
			t.Errorf("%s on %s: %q, want %q", tc.conf, tc.reqURI, got, tc.want)
		}
	}
}

func TestMirrorSampleRatio(t *testing.T) {
	m := newMirror(t, `{"host":"http://127.0.0.1:1","sample_ratio":0.5}`)
	const n = 4000
	picked := 0
	for range n {
		c := plugintest.New()
		m.Rewrite(c)
		if c.Get(uriKey{}) != nil {
			picked++
		}
	}
	// binomial(4000, 0.5): sd ≈ 32; ±8 sd
	if picked < 1750 || picked > 2250 {
		t.Errorf("sample_ratio 0.5 picked %d of %d", picked, n)
	}
	low := newMirror(t, `{"host":"http://127.0.0.1:1","sample_ratio":0.00001}`)
	picked = 0
	for range n {
		c := plugintest.New()
		low.Rewrite(c)
		if c.Get(uriKey{}) != nil {
			picked++
		}
	}
	if picked > 3 { // expected 0.04
		t.Errorf("sample_ratio 0.00001 picked %d of %d", picked, n)
	}
}

func TestMirrorQueueFullDrops(t *testing.T) {
	block := make(chan struct{})
	srv, got := mirrorOrigin(t, block)
	m := newMirror(t, hostConf(srv, ""))
	const n = workersPerHost + queueLen + 50
	start := time.Now()
	for range n {
		run(m, plugintest.New())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("queuing %d copies took %v: the request path waited", n, d)
	}
	// the workers hold workersPerHost copies; the queue holds queueLen more at most
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < workersPerHost && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := m.pool.dropped.Load(); d < 50 {
		t.Errorf("dropped %d, want at least 50", d)
	}
	close(block)
	deadline = time.Now().Add(10 * time.Second)
	for m.pool.sent.Load()+m.pool.dropped.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s, d := m.pool.sent.Load(), m.pool.dropped.Load(); s+d != n {
		t.Errorf("sent %d + dropped %d != %d (failed %d)", s, d, n, m.pool.failed.Load())
	}
}

func TestMirrorDeadHostAndTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	m := newMirror(t, `{"host":"http://`+dead+`"}`)
	run(m, plugintest.New())
	deadline := time.Now().Add(5 * time.Second)
	for m.pool.failed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if m.pool.failed.Load() != 1 {
		t.Errorf("failed = %d, want 1", m.pool.failed.Load())
	}

	// a mirror that never answers is cut off by the read timeout
	block := make(chan struct{})
	srv, _ := mirrorOrigin(t, block)
	def, _ := plugin.Lookup("proxy-mirror")
	env := plugin.Env{Shared: &nodeAttrs{t: timeouts{connect: time.Second, send: time.Second, read: 200 * time.Millisecond}}}
	inst, err := def.New(json.RawMessage(hostConf(srv, "")), env)
	if err != nil {
		t.Fatal(err)
	}
	slow := inst.(*Mirror)
	defer slow.Close()
	run(slow, plugintest.New())
	deadline = time.Now().Add(5 * time.Second)
	for slow.pool.failed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if slow.pool.failed.Load() != 1 {
		t.Errorf("slow mirror: failed = %d, want 1 (read timeout)", slow.pool.failed.Load())
	}
}

func TestMirrorSkipsUnbufferableBodies(t *testing.T) {
	m := newMirror(t, `{"host":"http://127.0.0.1:1"}`)
	for _, h := range []map[string]string{
		{"Transfer-Encoding": "chunked"},
		{"Content-Length": strconv.Itoa(maxMirrorBody + 1)},
		{"Content-Length": ""}, // no length on a POST (HTTP/2)
		{},
	} {
		c := plugintest.New()
		c.MethodV = "POST"
		for k, v := range h {
			c.ReqHeader.Set(k, v)
		}
		run(m, c)
	}
	if s := m.pool.skipped.Load(); s != 4 {
		t.Errorf("skipped = %d, want 4", s)
	}
	// a GET without length is copied, without a body
	c := plugintest.New()
	c.ReqHeader.Set("Content-Length", "")
	run(m, c)
	if s := m.pool.skipped.Load(); s != 4 {
		t.Errorf("GET without length skipped")
	}
}

func TestPoolsSharedAndReleased(t *testing.T) {
	conf := `{"host":"http://127.0.0.1:9"}`
	def, _ := plugin.Lookup("proxy-mirror")
	a, err := def.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := def.New(json.RawMessage(conf), plugin.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := a.(*Mirror), b.(*Mirror)
	if ma.pool != mb.pool {
		t.Fatal("two instances for one host got two senders")
	}
	key := ma.pool.key
	ma.Close()
	poolsMu.Lock()
	_, alive := pools[key]
	poolsMu.Unlock()
	if !alive {
		t.Fatal("sender stopped while an instance still uses it")
	}
	mb.Close()
	poolsMu.Lock()
	_, alive = pools[key]
	poolsMu.Unlock()
	if alive {
		t.Fatal("sender kept after the last instance closed")
	}
}

func TestParseAttr(t *testing.T) {
	got, err := parseAttr(json.RawMessage(`{"timeout":{"connect":"2s","send":"500ms","read":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := timeouts{2 * time.Second, 500 * time.Millisecond, 3 * time.Second}
	if got != want {
		t.Errorf("parseAttr = %+v, want %+v", got, want)
	}
	if _, err := parseAttr(json.RawMessage(`{"timeout":{"read":"soon"}}`)); err == nil {
		t.Error("a bad time was accepted")
	}
	if got, _ := parseAttr(nil); got != defaultTimeouts {
		t.Errorf("defaults = %+v", got)
	}
}

func TestMirrorGRPCOverH2C(t *testing.T) {
	got := make(chan copySeen, 1)
	srv := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- copySeen{r.Proto, r.RequestURI, r.Host, string(b), r.Header} // method: the protocol
	}), &http2.Server{}))
	t.Cleanup(srv.Close)
	m := newMirror(t, `{"host":"grpc://`+srv.Listener.Addr().String()+`"}`)
	c := plugintest.New()
	c.MethodV = "POST"
	c.Path = "/pkg.Svc/Call"
	c.ReqHeader.Set("Content-Type", "application/grpc")
	c.ReqHeader.Set("Content-Length", "5")
	c.ReqBody = []byte("\x00\x00\x00\x00\x00")
	m.Rewrite(c)
	c.Path = "/pkg.Svc/Renamed" // proxy-rewrite: a gRPC copy takes the final URI
	m.BeforeProxy(c)
	s := wait(t, got)
	if s.method != "HTTP/2.0" || s.uri != "/pkg.Svc/Renamed" || len(s.body) != 5 || s.header.Get("Content-Type") != "application/grpc" {
		t.Errorf("copy = %+v", s)
	}
}
