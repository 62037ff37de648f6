package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/redistest"
)

// End-to-end tests of limit-req, limit-conn and workflow through the real binary
// (plugins.md §6), local and Redis policies against a real redis-server.

// blockingOrigin holds requests with ?hold=1 until released (or 10 s, so a failing test cannot
// hang) and answers others at once; it counts the held requests and records when each arrived.
type blockingOrigin struct {
	*originServer
	mu       sync.Mutex
	release  chan struct{}
	inFlight atomic.Int32
	arrived  chan time.Time
}

func newBlockingOrigin(t *testing.T) *blockingOrigin {
	b := &blockingOrigin{release: make(chan struct{}), arrived: make(chan time.Time, 64)}
	b.originServer = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") == "1" {
			b.mu.Lock()
			release := b.release
			b.mu.Unlock()
			b.inFlight.Add(1)
			defer b.inFlight.Add(-1)
			b.arrived <- time.Now()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		fmt.Fprint(w, "ok")
	})
	t.Cleanup(b.unblock)
	return b
}

// unblock releases the held requests; later ones are held again.
func (b *blockingOrigin) unblock() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.release)
	b.release = make(chan struct{})
}

// waitInFlight waits until n requests are held by the origin.
func (b *blockingOrigin) waitInFlight(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.inFlight.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight at the origin, want %d", b.inFlight.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// unblockAll releases the origin and checks the held requests succeeded.
func (b *blockingOrigin) unblockAll(t *testing.T, held ...<-chan response) {
	t.Helper()
	b.unblock()
	for i, ch := range held {
		select {
		case r := <-ch:
			if r.Status != 200 {
				t.Fatalf("held request %d: %d %q", i, r.Status, r.Body)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("held request %d did not finish", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.inFlight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still held after release", b.inFlight.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for len(b.arrived) > 0 {
		<-b.arrived
	}
}

// sendAsync sends GET path in the background; the response arrives on the channel.
func sendAsync(n *node, path string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		resp, err := client.Get(n.proxyURL(path))
		if err != nil {
			ch <- response{Status: -1, Body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- response{resp.StatusCode, resp.Header, string(b)}
	}()
	return ch
}

func TestLimitReqEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)
	redis := fmt.Sprintf(`"policy":"redis","redis_host":"127.0.0.1","redis_port":%d`, rs.Port)
	putAll(t, n, o, [][2]string{
		{"/routes/lr-default", routeJSON(o, "/lr/default", `{"limit-req":{"rate":1,"burst":0,"key":"remote_addr","nodelay":true}}`)},
		{"/routes/lr-custom", routeJSON(o, "/lr/custom", `{"limit-req":{"rate":1,"burst":0,"key":"http_x_user","rejected_code":429,"rejected_msg":"Too many requests"}}`)},
		{"/routes/lr-delay", routeJSON(o, "/lr/delay", `{"limit-req":{"rate":4,"burst":4,"key":"remote_addr"}}`)},
		{"/routes/lr-nodelay", routeJSON(o, "/lr/nodelay", `{"limit-req":{"rate":1,"burst":1,"key":"remote_addr","nodelay":true}}`)},
		{"/routes/lr-redis", routeJSON(o, "/lr/redis", `{"limit-req":{"rate":1,"burst":0,"key":"remote_addr","nodelay":true,"rejected_code":429,`+redis+`}}`)},
		{"/routes/lr-keep", routeJSON(o, "/lr/keep", keepConf(503))},
	})

	t.Run("rejects over burst with 503 and nginx's page", func(t *testing.T) {
		if r := send(t, n, req{path: "/lr/default"}); r.Status != 200 {
			t.Fatalf("first: %d %q", r.Status, r.Body)
		}
		r := send(t, n, req{path: "/lr/default"})
		if r.Status != 503 || r.Body != errPage(503, "Service Temporarily Unavailable") {
			t.Fatalf("second: %d %q", r.Status, r.Body)
		}
	})
	t.Run("custom code and message, per key", func(t *testing.T) {
		jack := req{path: "/lr/custom", header: []string{"X-User: jack"}}
		if r := send(t, n, jack); r.Status != 200 {
			t.Fatalf("first: %d", r.Status)
		}
		r := send(t, n, jack)
		if r.Status != 429 || r.Body != `{"error_msg":"Too many requests"}`+"\n" {
			t.Fatalf("second: %d %q", r.Status, r.Body)
		}
		if r := send(t, n, req{path: "/lr/custom", header: []string{"X-User: rose"}}); r.Status != 200 {
			t.Fatalf("other key: %d", r.Status)
		}
	})
	t.Run("delays within burst", func(t *testing.T) {
		send(t, n, req{path: "/lr/delay"})
		start := time.Now()
		r := send(t, n, req{path: "/lr/delay"})
		// The second immediate request has excess ≈ 1 request: it waits ≈ 1/rate = 250 ms.
		if el := time.Since(start); r.Status != 200 || el < 200*time.Millisecond {
			t.Fatalf("second: %d after %v, want 200 after about 250ms", r.Status, el)
		}
	})
	t.Run("nodelay admits the burst without waiting", func(t *testing.T) {
		send(t, n, req{path: "/lr/nodelay"})
		start := time.Now()
		r := send(t, n, req{path: "/lr/nodelay"})
		// Without nodelay this request would sleep ≈ 1 s (1/rate).
		if el := time.Since(start); r.Status != 200 || el >= 900*time.Millisecond {
			t.Fatalf("within burst: %d after %v", r.Status, el)
		}
		if r := send(t, n, req{path: "/lr/nodelay"}); r.Status != 503 {
			t.Fatalf("over burst: %d", r.Status)
		}
	})
	t.Run("buckets survive a route update with the same conf, not a conf change", func(t *testing.T) {
		if r := send(t, n, req{path: "/lr/keep"}); r.Status != 200 {
			t.Fatalf("first: %d", r.Status)
		}
		if r := send(t, n, req{path: "/lr/keep"}); r.Status != 503 {
			t.Fatalf("second: %d", r.Status)
		}
		// Same plugin conf, other route fields: still limited.
		put(t, n, "/routes/lr-keep", `{"uri":"/lr/keep","desc":"updated","plugins":`+keepConf(503)+`,"upstream":`+upstreamOf(o)+`}`)
		waitLive(t, n, o, "/mark/1")
		if r := send(t, n, req{path: "/lr/keep"}); r.Status != 503 {
			t.Fatalf("after an update keeping the conf: %d, want still 503", r.Status)
		}
		// A changed conf is a new limiter (APISIX's conf version is part of the key).
		put(t, n, "/routes/lr-keep", routeJSON(o, "/lr/keep", keepConf(502)))
		waitLive(t, n, o, "/mark/2")
		if r := send(t, n, req{path: "/lr/keep"}); r.Status != 200 {
			t.Fatalf("after a conf change: %d, want a fresh bucket", r.Status)
		}
		if r := send(t, n, req{path: "/lr/keep"}); r.Status != 502 {
			t.Fatalf("second after the conf change: %d", r.Status)
		}
	})
	t.Run("redis policy", func(t *testing.T) {
		if r := send(t, n, req{path: "/lr/redis"}); r.Status != 200 {
			t.Fatalf("first: %d %q", r.Status, r.Body)
		}
		if r := send(t, n, req{path: "/lr/redis"}); r.Status != 429 {
			t.Fatalf("second: %d %q", r.Status, r.Body)
		}
		keys := redistest.MustDo(t, rs.Addr, "KEYS", "limit_req:*")
		if !strings.HasPrefix(keys, "limit_req:/apisix/routes/lr-redis:") {
			t.Fatalf("redis keys %q", keys)
		}
	})
}

// keepConf is a plugins object whose bucket drains in 100 s, so a test never sees its bucket empty by itself.
func keepConf(code int) string {
	return fmt.Sprintf(`{"limit-req":{"rate":0.01,"burst":0,"key":"remote_addr","nodelay":true,"rejected_code":%d}}`, code)
}

// waitLive writes a new marker route and waits until it answers: snapshots are published in
// order, so every write before it is live.
func waitLive(t *testing.T, n *node, o *originServer, uri string) {
	t.Helper()
	put(t, n, "/routes/marker"+strings.ReplaceAll(uri, "/", "-"), routeJSON(o, uri, ""))
	waitFor(t, n.proxyURL(uri), func(st int, _ string) bool { return st == 200 })
}

func TestLimitConnEndToEnd(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newBlockingOrigin(t)
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/lc", routeJSON(o.originServer, "/slow/lc", `{"limit-conn":{"conn":2,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_msg":"busy"}}`)},
		{"/routes/lc-exit", routeJSON(o.originServer, "/fast/exit", `{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"},`+
			`"limit-req":{"rate":0.001,"burst":0,"key":"remote_addr","nodelay":true,"rejected_code":429}}`)},
	})

	t.Run("rejects beyond conn while requests are in flight", func(t *testing.T) {
		a, b := sendAsync(n, "/slow/lc?hold=1"), sendAsync(n, "/slow/lc?hold=1")
		o.waitInFlight(t, 2)
		r := send(t, n, req{path: "/slow/lc"})
		if r.Status != 503 || r.Body != `{"error_msg":"busy"}`+"\n" {
			t.Fatalf("third in flight: %d %q", r.Status, r.Body)
		}
		o.unblockAll(t, a, b)
	})
	t.Run("slots are given back", func(t *testing.T) {
		// Sequential requests that are not held never exceed conn.
		for i := 0; i < 3; i++ {
			if r := send(t, n, req{path: "/slow/lc"}); r.Status != 200 {
				t.Fatalf("request %d after the others finished: %d", i, r.Status)
			}
		}
	})
	t.Run("log gives the slot back when a later plugin ends the request", func(t *testing.T) {
		if r := send(t, n, req{path: "/fast/exit"}); r.Status != 200 {
			t.Fatalf("first: %d", r.Status)
		}
		// limit-req (after limit-conn) rejects these; limit-conn must not count them as in flight.
		for i := 0; i < 3; i++ {
			if r := send(t, n, req{path: "/fast/exit"}); r.Status != 429 {
				t.Fatalf("request %d: %d, want limit-req's 429 (not limit-conn's 503)", i, r.Status)
			}
		}
	})
}

func TestLimitConnBurstAndRedis(t *testing.T) {
	rs := redistest.Start(t)
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newBlockingOrigin(t)
	redis := fmt.Sprintf(`"policy":"redis","redis_host":"127.0.0.1","redis_port":%d`, rs.Port)
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/lc-burst", routeJSON(o.originServer, "/slow/burst", `{"limit-conn":{"conn":1,"burst":1,"default_conn_delay":0.3,"only_use_default_delay":true,"key":"remote_addr"}}`)},
		{"/routes/lc-redis", routeJSON(o.originServer, "/slow/redis", `{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_code":429,`+redis+`}}`)},
	})

	t.Run("burst waits default_conn_delay, beyond rejects", func(t *testing.T) {
		a := sendAsync(n, "/slow/burst?hold=1")
		first := <-o.arrived
		sent := time.Now()
		b := sendAsync(n, "/slow/burst?hold=1")
		o.waitInFlight(t, 1)
		// b holds the burst slot while it waits; a third request is over conn+burst.
		time.Sleep(50 * time.Millisecond)
		if r := send(t, n, req{path: "/slow/burst"}); r.Status != 503 {
			t.Fatalf("over burst: %d", r.Status)
		}
		second := <-o.arrived
		if d := second.Sub(sent); d < 250*time.Millisecond {
			t.Fatalf("burst request reached the origin %v after it was sent, want ≥ default_conn_delay 300ms (first at %v)", d, first)
		}
		o.unblockAll(t, a, b)
	})
	t.Run("redis policy", func(t *testing.T) {
		a := sendAsync(n, "/slow/redis?hold=1")
		o.waitInFlight(t, 1)
		if r := send(t, n, req{path: "/slow/redis"}); r.Status != 429 {
			t.Fatalf("second in flight: %d", r.Status)
		}
		keys := redistest.MustDo(t, rs.Addr, "KEYS", "limit_conn:*")
		if !strings.HasPrefix(keys, "limit_conn:/apisix/routes/lc-redis:") {
			t.Fatalf("redis keys %q", keys)
		}
		o.unblockAll(t, a)
		// The slot is given back by a worker after the log phase.
		deadline := time.Now().Add(5 * time.Second)
		for redistest.MustDo(t, rs.Addr, "ZCARD", keys) != "0" {
			if time.Now().After(deadline) {
				t.Fatal("redis slot not given back")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if r := send(t, n, req{path: "/slow/redis"}); r.Status != 200 {
			t.Fatalf("after release: %d", r.Status)
		}
	})
}

func TestWorkflowEndToEnd(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)
	putAll(t, n, o, [][2]string{
		{"/routes/wf", routeJSON(o, "/wf/*", `{"workflow":{"rules":[
			{"case":[["uri","==","/wf/deny"]],"actions":[["return",{"code":403}]]},
			{"case":[["arg_tier","==","free"]],"actions":[["limit-count",{"count":2,"time_window":60,"rejected_code":429,"key":"remote_addr","key_type":"var"}]]},
			{"case":[["arg_tier","==","basic"]],"actions":[["limit-count",{"count":1,"time_window":60,"key":"remote_addr","key_type":"var"}]]}]}}`)},
	})
	t.Run("return", func(t *testing.T) {
		r := send(t, n, req{path: "/wf/deny"})
		if r.Status != 403 || r.Body != `{"error_msg":"rejected by workflow"}`+"\n" {
			t.Fatalf("%d %q", r.Status, r.Body)
		}
	})
	t.Run("limit-count per rule", func(t *testing.T) {
		for i, want := range []int{200, 200, 429} {
			r := send(t, n, req{path: "/wf/x?tier=free"})
			if r.Status != want {
				t.Fatalf("free #%d: %d, want %d", i, r.Status, want)
			}
			if want == 200 && r.Header.Get("X-RateLimit-Limit") != "2" {
				t.Fatalf("free #%d: X-RateLimit-Limit %q", i, r.Header.Get("X-RateLimit-Limit"))
			}
		}
		// The third rule has its own counter, and no rule matching means no limit.
		if r := send(t, n, req{path: "/wf/x?tier=basic"}); r.Status != 200 {
			t.Fatalf("basic #1: %d", r.Status)
		}
		if r := send(t, n, req{path: "/wf/x?tier=basic"}); r.Status != 503 {
			t.Fatalf("basic #2: %d", r.Status)
		}
		for i := 0; i < 3; i++ {
			if r := send(t, n, req{path: "/wf/x"}); r.Status != 200 {
				t.Fatalf("unmatched #%d: %d", i, r.Status)
			}
		}
	})
	t.Run("limit-conn", func(t *testing.T) {
		b := newBlockingOrigin(t)
		put(t, n, "/routes/wf-conn", routeJSON(b.originServer, "/wfc", `{"workflow":{"rules":[
			{"case":[["arg_hold","==","1"]],"actions":[["limit-conn",{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr","rejected_code":409}]]}]}}`))
		waitLive(t, n, o, "/mark/wf")
		a := sendAsync(n, "/wfc?hold=1")
		b.waitInFlight(t, 1)
		if r := send(t, n, req{path: "/wfc?hold=1"}); r.Status != 409 {
			t.Fatalf("second in flight: %d", r.Status)
		}
		b.unblockAll(t, a)
		// The log phase gave the slot back: the next one is admitted (and held again).
		c := sendAsync(n, "/wfc?hold=1")
		b.waitInFlight(t, 1)
		b.unblockAll(t, c)
	})
	t.Run("admin rejects a bad action", func(t *testing.T) {
		for _, tc := range []struct{ conf, msg string }{
			{`{"rules":[{"actions":[["fake",{}]]}]}`, "unsupported action: fake"},
			{`{"rules":[{"actions":[["return",{}]]}]}`, `failed to validate the 'return' action: property \"code\" is required`},
		} {
			r := do(t, "PUT", n.adminURL("/routes/wf-bad"), configuredKey, routeJSON(o, "/bad", `{"workflow":`+tc.conf+`}`))
			if r.Status != 400 || !strings.Contains(r.Body, tc.msg) {
				t.Errorf("%s: %d %s", tc.conf, r.Status, r.Body)
			}
		}
	})
}
