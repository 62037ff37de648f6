package apibreaker

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin/plugintest"
)

// clock is a settable clock for the store the instances share.
type clock struct{ t time.Time }

func (k *clock) now() time.Time             { return k.t }
func (k *clock) advance(d time.Duration)    { k.t = k.t.Add(d) }
func newClock() *clock                      { return &clock{t: time.Unix(1_700_000_000, 0)} }
func (b *Breaker) useClock(k *clock) *clock { b.st.now = k.now; return k }

func breaker(t *testing.T, conf string) *Breaker {
	t.Helper()
	b := plugintest.MustNew(t, "api-breaker", conf).(*Breaker)
	t.Cleanup(b.Close)
	return b
}

// request runs one request through b: access, then (when not rejected) the upstream answers
// status and the log phase counts it. It returns the ctx.
func request(b *Breaker, host, uri string, status int) *plugintest.Ctx {
	c := plugintest.New()
	c.HostV, c.Path = host, uri
	b.Access(c)
	if !c.Exited() {
		c.Info.UpStatus, c.StatusV = status, status
	}
	b.Log(c)
	return c
}

func TestOpensAfterFailuresAndBacksOff(t *testing.T) {
	b := breaker(t, `{"break_response_code":502,"unhealthy":{"http_statuses":[500,503],"failures":3},"max_breaker_sec":10}`)
	k := b.useClock(newClock())

	for i := range 2 {
		if c := request(b, "a.test", "/backoff", 500); c.Exited() {
			t.Fatalf("failure %d: rejected before the threshold", i+1)
		}
	}
	request(b, "a.test", "/backoff", 503) // third failure trips the breaker: 2^1 s
	c := request(b, "a.test", "/backoff", 200)
	if !c.Exited() || c.ExitStatus != 502 || c.ExitBody != nil {
		t.Fatalf("open breaker: exited=%v status=%d body=%q", c.Exited(), c.ExitStatus, c.ExitBody)
	}
	// Other hosts and paths have their own counters.
	if c := request(b, "b.test", "/backoff", 200); c.Exited() {
		t.Fatal("another host was rejected")
	}
	if c := request(b, "a.test", "/other", 200); c.Exited() {
		t.Fatal("another uri was rejected")
	}

	k.advance(2 * time.Second) // lasttime + 2 >= now: still open
	if c := request(b, "a.test", "/backoff", 200); !c.Exited() {
		t.Fatal("open for 2 s after 3 failures, inclusive")
	}
	k.advance(time.Second) // half-open: the next requests pass; three more failures → 4 s
	for i := range 3 {
		if c := request(b, "a.test", "/backoff", 500); c.Exited() {
			t.Fatalf("half-open request %d rejected", i+1)
		}
	}
	k.advance(4 * time.Second)
	if c := request(b, "a.test", "/backoff", 200); !c.Exited() {
		t.Fatal("open for 4 s after 6 failures")
	}
	k.advance(time.Second)
	for range 3 { // 9 failures → 8 s
		request(b, "a.test", "/backoff", 500)
	}
	k.advance(8 * time.Second)
	if c := request(b, "a.test", "/backoff", 200); !c.Exited() {
		t.Fatal("open for 8 s after 9 failures")
	}
	k.advance(time.Second)
	for range 3 { // 12 failures → 16 s, capped at max_breaker_sec 10
		request(b, "a.test", "/backoff", 500)
	}
	k.advance(10 * time.Second)
	if c := request(b, "a.test", "/backoff", 200); c.Exited() {
		// The lasttime key expires with a TTL of max_breaker_sec, so at exactly 10 s it is gone.
		t.Fatal("still open after max_breaker_sec")
	}
}

func TestHealthyResponsesClose(t *testing.T) {
	b := breaker(t, `{"break_response_code":599,"healthy":{"http_statuses":[200,204],"successes":2}}`)
	k := b.useClock(newClock())
	for range 3 {
		request(b, "h.test", "/close", 500)
	}
	if c := request(b, "h.test", "/close", 200); !c.Exited() || c.ExitStatus != 599 {
		t.Fatalf("not open: %d", c.ExitStatus)
	}
	k.advance(3 * time.Second)
	request(b, "h.test", "/close", 200)
	request(b, "h.test", "/close", 204) // second success: all three keys deleted
	if b.st.get([]byte("h.test/close")) != nil {
		t.Fatal("entry kept after healthy.successes")
	}
	// Closed means counting starts over: two failures do not trip it.
	request(b, "h.test", "/close", 500)
	request(b, "h.test", "/close", 500)
	if c := request(b, "h.test", "/close", 200); c.Exited() {
		t.Fatal("rejected after the breaker closed")
	}
}

func TestFailureResetsSuccesses(t *testing.T) {
	b := breaker(t, `{"break_response_code":503,"unhealthy":{"failures":1},"healthy":{"successes":2}}`)
	k := b.useClock(newClock())
	request(b, "r.test", "/reset", 500) // trips: 2 s
	k.advance(3 * time.Second)
	request(b, "r.test", "/reset", 200) // one success
	request(b, "r.test", "/reset", 500) // failure deletes the healthy counter; 2 failures → 4 s
	k.advance(3 * time.Second)
	if c := request(b, "r.test", "/reset", 200); !c.Exited() {
		t.Fatal("2 failures with failures=1 should open for 4 s")
	}
	k.advance(2 * time.Second)
	request(b, "r.test", "/reset", 200)
	if b.st.get([]byte("r.test/reset")) == nil {
		t.Fatal("closed after one success, but the earlier success was reset by the failure")
	}
	request(b, "r.test", "/reset", 200)
	if b.st.get([]byte("r.test/reset")) != nil {
		t.Fatal("not closed after two successes")
	}
}

func TestStatusesOutsideBothListsAreIgnored(t *testing.T) {
	b := breaker(t, `{"break_response_code":502}`)
	b.useClock(newClock())
	for range 5 {
		request(b, "i.test", "/ignored", 502) // not in unhealthy [500]
		request(b, "i.test", "/ignored", 404) // not in healthy [200]
	}
	if c := request(b, "i.test", "/ignored", 200); c.Exited() {
		t.Fatal("rejected on statuses outside the lists")
	}
	// No upstream answered (an earlier plugin exited): nothing is counted.
	for range 5 {
		c := plugintest.New()
		c.HostV, c.Path = "i.test", "/ignored"
		c.Exit(500, nil)
		b.Log(c)
	}
	if b.st.get([]byte("i.test/ignored")) != nil {
		t.Fatal("a request that never reached the upstream was counted")
	}
}

func TestBreakResponseBodyAndHeaders(t *testing.T) {
	b := breaker(t, `{"break_response_code":502,"break_response_body":"breaker opened",
		"break_response_headers":[{"key":"X-Breaker","value":"open $host"},{"key":"X-Breaker","value":"$uri"}]}`)
	b.useClock(newClock())
	for range 3 {
		request(b, "v.test", "/body", 500)
	}
	c := request(b, "v.test", "/body", 200)
	if c.ExitStatus != 502 || string(c.ExitBody) != "breaker opened" {
		t.Fatalf("exit %d %q", c.ExitStatus, c.ExitBody)
	}
	if got := c.RespHdr.Values("X-Breaker"); len(got) != 2 || got[0] != "open v.test" || got[1] != "/body" {
		t.Fatalf("headers %v", got)
	}

	// Headers without a body are not sent (APISIX adds them only with break_response_body).
	nb := breaker(t, `{"break_response_code":503,"break_response_headers":[{"key":"X-Breaker","value":"1"}]}`)
	c = request(nb, "v.test", "/body", 200)
	if c.ExitStatus != 503 || c.ExitBody != nil || c.RespHdr.Get("X-Breaker") != "" {
		t.Fatalf("no body: %d %q %v", c.ExitStatus, c.ExitBody, c.RespHdr)
	}

	// An empty body is a body: empty, not nginx's page.
	eb := breaker(t, `{"break_response_code":503,"break_response_body":""}`)
	c = request(eb, "v.test", "/body", 200)
	if c.ExitBody == nil || len(c.ExitBody) != 0 {
		t.Fatalf("empty body: %q (nil=%v)", c.ExitBody, c.ExitBody == nil)
	}
}

// The state belongs to $host$uri, not to an instance: a new instance for a changed conf (or
// another route on the same path) sees it, and it is dropped when the last instance closes.
func TestStateSharedAndFreed(t *testing.T) {
	b1 := plugintest.MustNew(t, "api-breaker", `{"break_response_code":502}`).(*Breaker)
	k := b1.useClock(newClock())
	for range 3 {
		request(b1, "s.test", "/shared", 500)
	}
	b2 := plugintest.MustNew(t, "api-breaker", `{"break_response_code":503,"max_breaker_sec":5}`).(*Breaker)
	b1.Close() // the old conf is retired after the new one is built
	b1.Close() // idempotent
	if b2.st != b1.st {
		t.Fatal("a new instance did not get the live state")
	}
	k.advance(time.Second)
	if c := request(b2, "s.test", "/shared", 200); !c.Exited() || c.ExitStatus != 503 {
		t.Fatalf("new conf did not see the open breaker: %v %d", c.Exited(), c.ExitStatus)
	}
	b2.Close()
	b3 := plugintest.MustNew(t, "api-breaker", `{"break_response_code":502}`).(*Breaker)
	defer b3.Close()
	if b3.st == b2.st {
		t.Fatal("state kept after the last instance closed")
	}
	if c := request(b3, "s.test", "/shared", 200); c.Exited() {
		t.Fatal("fresh state rejected")
	}
}

func TestStoreIsBounded(t *testing.T) {
	s := newStore()
	for i := range shardCount * shardCap * 2 {
		s.getOrCreate([]byte("h/" + strconv.Itoa(i)))
	}
	if n := s.entries.Load(); n > shardCount*shardCap {
		t.Fatalf("%d entries, cap %d", n, shardCount*shardCap)
	}
}

func TestAccessDoesNotAllocate(t *testing.T) {
	b := breaker(t, `{"break_response_code":502}`)
	b.useClock(newClock())
	request(b, "n.test", "/other", 500) // an entry exists, so Access looks the key up
	var buf [maxKey]byte
	key := append(append(buf[:0], "n.test"...), "/alloc"...)
	if n := testing.AllocsPerRun(100, func() { b.st.get(key) }); n != 0 {
		t.Fatalf("store lookup allocates %v times", n)
	}
}

// Concurrent requests on one path (run with -race): counters stay consistent.
func TestConcurrentRequests(t *testing.T) {
	b := breaker(t, `{"break_response_code":502,"unhealthy":{"failures":1000000}}`)
	b.useClock(newClock())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				request(b, "c.test", "/concurrent", 500)
			}
		}()
	}
	wg.Wait()
	if e := b.st.get([]byte("c.test/concurrent")); e == nil || e.unhealthy.Load() != 2000 {
		t.Fatalf("entry %+v", e)
	}
}

// The request path while some path has failures: hash, shard read-lock, map lookup.
func BenchmarkStoreGet(b *testing.B) {
	s := newStore()
	for i := range 1000 {
		s.getOrCreate([]byte("bench.test/" + strconv.Itoa(i)))
	}
	key := []byte("bench.test/healthy-path")
	for b.Loop() {
		s.get(key)
	}
}
