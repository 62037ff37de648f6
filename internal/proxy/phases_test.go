package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/plugin"
	_ "github.com/sluicegw/sluice/plugins/gzip"
)

// phaseTestPlugin exercises the phases around forwarding; conf picks what it does.
type phaseTestPlugin struct {
	// ExitOn ends the request with ExitStatus (418 when 0) in the ExitOn-th before_proxy
	// call (0: never).
	ExitOn     int `json:"exit_on"`
	ExitStatus int `json:"exit_status"`
	// Inplace upper-cases each body chunk in place (as a filter may: the chunk is its own).
	Inplace bool   `json:"inplace"`
	Suffix  string `json:"suffix"`
}

type bpCalls struct{}

var balancerPort = plugin.Var{Kind: plugin.VarUnknown, Name: "balancer_port"}

// BeforeProxy counts its calls and tells the node which try it is and which node it was
// run for: "X-BP: <call>@<balancer_port>".
func (p *phaseTestPlugin) BeforeProxy(c plugin.Ctx) {
	n, _ := c.Get(bpCalls{}).(int)
	n++
	c.Set(bpCalls{}, n)
	port, _ := c.Lookup(&balancerPort)
	c.SetHeader("X-BP", strconv.Itoa(n)+"@"+string(port))
	if n == p.ExitOn {
		st := p.ExitStatus
		if st == 0 {
			st = http.StatusTeapot
		}
		c.Exit(st, nil)
	}
}

func (p *phaseTestPlugin) HeaderFilter(c plugin.Ctx) {
	n, _ := c.Get(bpCalls{}).(int)
	c.SetRespHeader("X-BP-Calls", strconv.Itoa(n))
}

func (p *phaseTestPlugin) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	if p.Inplace {
		for i, b := range chunk {
			if b >= 'a' && b <= 'z' {
				chunk[i] = b - 'a' + 'A'
			}
		}
	}
	if eof && p.Suffix != "" {
		return append(append([]byte(nil), chunk...), p.Suffix...)
	}
	return chunk
}

func init() {
	plugin.Register(plugin.Definition{Name: "phase-test", Priority: 2, New: func(conf json.RawMessage, _ plugin.Env) (any, error) {
		p := &phaseTestPlugin{}
		return p, json.Unmarshal(conf, p)
	}})
}

// phaseChain is phase-test with conf, plus the log recorder (h2-log-test).
func phaseChain(t testing.TB, conf string) *pluginrt.Chain {
	return pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "phase-test", pluginrt.FromRoute, conf),
		compileNamed(t, "h2-log-test", pluginrt.FromRoute, `{}`)})
}

// both runs fn once over HTTP/1.1 and once over h2c.
func both(t *testing.T, fn func(t *testing.T, c *http.Client)) {
	t.Run("http1", func(t *testing.T) { fn(t, &http.Client{Timeout: 10 * time.Second}) })
	t.Run("h2c", func(t *testing.T) { fn(t, h2c()) })
}

// before_proxy runs again on every retry, after the new node was picked, so the node that
// answers sees the header set for its own try; an exit there ends the request with the
// filters run on the exit's response.
func TestBeforeProxyEveryTry(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Header.Get("X-BP")+" "+string(b))
	})
	_, upPort, _ := net.SplitHostPort(up)
	down := refusedAddr(t)
	_, downPort, _ := net.SplitHostPort(down)
	// the refused node has the higher priority: it is always tried first
	ns := append(nodes(down), nodes(up)...)
	ns[0].Priority = 1
	ns2 := append(model.Nodes(nil), ns...)
	snap := buildSnapshot(t,
		testRoute{id: "bp-retry", uri: "/retry", up: &model.Upstream{Nodes: ns}},
		testRoute{id: "bp-exit", uri: "/exit", up: &model.Upstream{Nodes: ns2}},
		testRoute{id: "bp-first", uri: "/first", up: &model.Upstream{Nodes: nodes(up)}},
	)
	snap.Routes["bp-retry"].Chain = phaseChain(t, `{}`)
	snap.Routes["bp-exit"].Chain = phaseChain(t, `{"exit_on":2}`)
	snap.Routes["bp-first"].Chain = phaseChain(t, `{"exit_on":1}`)
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)

	both(t, func(t *testing.T, c *http.Client) {
		for _, body := range []string{"", "payload"} {
			method := "GET"
			if body != "" {
				method = "PUT" // idempotent: retried with its buffered body
			}
			resp, got := readAll(t, c, mustRequest(t, method, "http://"+addr+"/retry", strings.NewReader(body)))
			if want := "2@" + upPort + " " + body; resp.StatusCode != 200 || got != want {
				t.Errorf("%s retry: %d %q, want %q (first try on port %s)", method, resp.StatusCode, got, want, downPort)
			}
			if resp.Header.Get("X-BP-Calls") != "2" {
				t.Errorf("%s retry: before_proxy ran %q times, want 2", method, resp.Header.Get("X-BP-Calls"))
			}
		}
		resp, got := readAll(t, c, mustRequest(t, "GET", "http://"+addr+"/exit", nil))
		if resp.StatusCode != http.StatusTeapot || !strings.Contains(got, "418 I'm a teapot") ||
			resp.Header.Get("X-BP-Calls") != "2" || loggedFor("bp-exit").status != http.StatusTeapot {
			t.Errorf("exit on the retry: %d %q %v, log saw %+v", resp.StatusCode, got, resp.Header, loggedFor("bp-exit"))
		}
		resp, _ = readAll(t, c, mustRequest(t, "GET", "http://"+addr+"/first", nil))
		if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-BP-Calls") != "1" {
			t.Errorf("exit on the first try: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// The gateway's own error pages (node unreachable: 502; no upstream: 503) go through
// header_filter, body_filter and log like a plugin's exit.
func TestGatewayErrorsRunFilters(t *testing.T) {
	snap := buildSnapshot(t,
		testRoute{id: "gw-down", uri: "/down", up: &model.Upstream{Nodes: nodes(refusedAddr(t))}},
		testRoute{id: "gw-none", uri: "/none"},
	)
	snap.Routes["gw-down"].Chain = phaseChain(t, `{"suffix":"+sfx"}`)
	snap.Routes["gw-none"].Chain = phaseChain(t, `{"suffix":"+sfx"}`)
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)

	both(t, func(t *testing.T, c *http.Client) {
		for _, tc := range []struct {
			route, path string
			status      int
			text        string
			bpCalls     string
		}{
			{"gw-down", "/down", 502, "Bad Gateway", "1"},
			{"gw-none", "/none", 503, "Service Temporarily Unavailable", "0"},
		} {
			resp, body := readAll(t, c, mustRequest(t, "GET", "http://"+addr+tc.path, nil))
			if want := string(exitPage(tc.status)) + "+sfx"; resp.StatusCode != tc.status || body != want {
				t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, want)
			}
			if resp.Header.Get("X-BP-Calls") != tc.bpCalls || resp.Header.Get("Content-Type") != "text/html" {
				t.Errorf("%s: header filter did not run: %v", tc.path, resp.Header)
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
				t.Errorf("%s: Content-Length %s for %d bytes", tc.path, cl, len(body))
			}
			if l := loggedFor(tc.route); l.status != tc.status {
				t.Errorf("%s: log saw %+v", tc.path, l)
			}
		}
	})
}

// A body filter editing its chunk in place must not change nginx's shared pages: exits and
// the gateway's error pages hand the filters a copy.
func TestExitPageNotShared(t *testing.T) {
	pages := map[int]string{}
	for _, st := range []int{403, 502, 503} {
		pages[st] = string(exitPage(st))
	}
	snap := buildSnapshot(t,
		testRoute{id: "in-exit", uri: "/exit", up: &model.Upstream{Nodes: nodes(refusedAddr(t))}},
		testRoute{id: "in-down", uri: "/down", up: &model.Upstream{Nodes: nodes(refusedAddr(t))}},
		testRoute{id: "in-none", uri: "/none"},
	)
	snap.Routes["in-exit"].Chain = phaseChain(t, `{"inplace":true,"exit_on":1,"exit_status":403}`)
	snap.Routes["in-down"].Chain = phaseChain(t, `{"inplace":true}`)
	snap.Routes["in-none"].Chain = phaseChain(t, `{"inplace":true}`)
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)
	both(t, func(t *testing.T, c *http.Client) {
		for path, st := range map[string]int{"/exit": 403, "/down": 502, "/none": 503} {
			resp, body := readAll(t, c, mustRequest(t, "GET", "http://"+addr+path, nil))
			if resp.StatusCode != st || body != strings.ToUpper(pages[st]) {
				t.Errorf("%s: %d %q", path, resp.StatusCode, body)
			}
		}
	})
	for st, page := range pages {
		if got := string(exitPage(st)); got != page {
			t.Errorf("shared %d page changed to %q", st, got)
		}
	}
}

// gzip over HTTP/1.1: nginx drops the node's Content-Length and sends the compressed body
// chunked, also when the node's body came whole with its head; a response gzip leaves alone
// keeps its exact length.
func TestGzipSendsChunked(t *testing.T) {
	page := "<html>" + strings.Repeat("compress me ", 100) + "</html>"
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json" {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/html")
		}
		io.WriteString(w, page)
	})
	snap := buildSnapshot(t, testRoute{id: "gz", uri: "/*", up: &model.Upstream{Nodes: nodes(up)}})
	snap.Routes["gz"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "gzip", pluginrt.FromRoute, `{}`)})
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)

	// two requests on one connection: the chunked framing must leave it usable
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	exchange := func(path, ae string) (*http.Response, []byte) {
		t.Helper()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nAccept-Encoding: "+ae+"\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	for range 2 {
		resp, b := exchange("/html", "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Length") != "" ||
			len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("gzip: %v, transfer-encoding %v", resp.Header, resp.TransferEncoding)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if plain, _ := io.ReadAll(zr); string(plain) != page {
			t.Fatalf("gunzipped %q", plain)
		}
	}
	for _, tc := range [][2]string{{"/html", "identity"}, {"/json", "gzip"}} {
		resp, b := exchange(tc[0], tc[1])
		if string(b) != page || resp.Header.Get("Content-Length") != strconv.Itoa(len(page)) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s (%s) not compressed: %v, %d bytes", tc[0], tc[1], resp.Header, len(b))
		}
	}
}

// An HTTP/1.0 client gets a filtered streamed body delimited by the connection's end, never
// with the node's Content-Length (which no longer holds).
func TestHTTP10FilteredBodyNoLength(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		io.WriteString(w, big)
	})
	snap := buildSnapshot(t, testRoute{id: "h10", uri: "/big", up: &model.Upstream{Nodes: nodes(up)}})
	snap.Routes["h10"].Chain = phaseChain(t, `{"suffix":"+sfx"}`)
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)
	resp, body, closed := rawExchange(t, addr, "GET /big HTTP/1.0\r\nHost: x\r\n\r\n")
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		t.Errorf("Content-Length %s announced for a filtered body", cl)
	}
	if resp.StatusCode != 200 || body != big+"+sfx" || !closed {
		t.Errorf("got %d, %d bytes (suffix %q), closed %v", resp.StatusCode, len(body), body[max(0, len(body)-8):], closed)
	}
}
