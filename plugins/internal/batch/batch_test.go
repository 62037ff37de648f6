package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a Sender that records the batches it saw and fails as told.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	fail    func(call int, batch []int) error
	calls   int
	got     chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 100)} }

func (r *recorder) send(_ context.Context, b []int) error {
	r.mu.Lock()
	r.calls++
	call := r.calls
	r.batches = append(r.batches, slices.Clone(b))
	r.mu.Unlock()
	defer func() { r.got <- struct{}{} }()
	if r.fail != nil {
		return r.fail(call, b)
	}
	return nil
}

func (r *recorder) wait(t *testing.T, calls int) [][]int {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.batches)
		out := slices.Clone(r.batches)
		r.mu.Unlock()
		if n >= calls {
			return out
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("saw %d batches %v, want %d", n, out, calls)
		}
	}
}

func cfg(size int) Config {
	return Config{Name: "test", BatchMaxSize: size, InactiveTimeout: 1, BufferDuration: 60, RetryDelay: 0}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"uri":"http://x","batch_max_size":7}`), "http logger")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Name: "http logger", BatchMaxSize: 7, InactiveTimeout: 5, BufferDuration: 60, RetryDelay: 1}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if MaxPending(nil) != 8192 || MaxPending([]byte(`{"max_pending_entries":3}`)) != 3 {
		t.Fatal("max_pending_entries")
	}
}

func TestBatchMaxSizeAndInactiveFlush(t *testing.T) {
	r := newRecorder()
	p := Acquire(cfg(2), Options{Plugin: "t1", Key: "a"}, r.send)
	defer p.Release()
	for i := range 5 {
		if !p.Push(i) {
			t.Fatalf("push %d dropped", i)
		}
	}
	got := r.wait(t, 2)
	if !slices.Equal(got[0], []int{0, 1}) || !slices.Equal(got[1], []int{2, 3}) {
		t.Fatalf("full batches %v", got)
	}
	start := time.Now()
	got = r.wait(t, 3) // the last entry goes after inactive_timeout (1 s)
	if !slices.Equal(got[2], []int{4}) {
		t.Fatalf("tail batch %v", got[2])
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("tail sent before inactive_timeout")
	}
}

func TestRetryThenDrop(t *testing.T) {
	r := newRecorder()
	r.fail = func(call int, _ []int) error {
		if call <= 2 {
			return errors.New("collector down")
		}
		return nil
	}
	c := cfg(1)
	c.MaxRetryCount = 2
	p := Acquire(c, Options{Plugin: "t2", Key: "a"}, r.send)
	p.Push(1)
	got := r.wait(t, 3)
	if len(got) != 3 || !slices.Equal(got[2], []int{1}) {
		t.Fatalf("retries %v", got)
	}
	p.Release()

	// max_retry_count 0: one attempt, then the batch is dropped.
	r2 := newRecorder()
	r2.fail = func(int, []int) error { return errors.New("down") }
	before := Dropped()
	p2 := Acquire(cfg(1), Options{Plugin: "t2", Key: "b"}, r2.send)
	p2.Push(9)
	r2.wait(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for Dropped() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if Dropped() != before+1 {
		t.Fatalf("dropped %d, want %d", Dropped(), before+1)
	}
	time.Sleep(50 * time.Millisecond)
	if r2.calls != 1 {
		t.Fatalf("%d attempts, want 1", r2.calls)
	}
	p2.Release()
}

func TestPartialFailureRetriesTail(t *testing.T) {
	r := newRecorder()
	r.fail = func(call int, b []int) error {
		if call == 1 {
			return &PartialError{FirstFail: 2, Err: errors.New("third failed")}
		}
		return nil
	}
	c := cfg(4)
	c.MaxRetryCount = 1
	p := Acquire(c, Options{Plugin: "t3", Key: "a"}, r.send)
	defer p.Release()
	for i := range 4 {
		p.Push(i)
	}
	got := r.wait(t, 2)
	if !slices.Equal(got[1], []int{2, 3}) {
		t.Fatalf("retried %v, want the tail [2 3]", got[1])
	}
}

func TestPendingLimitDrops(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	sent := make(chan []int, 10)
	send := func(_ context.Context, b []int) error {
		once.Do(func() { <-block }) // the first send hangs like a dead collector
		sent <- slices.Clone(b)
		return nil
	}
	p := Acquire(cfg(1), Options{Plugin: "t4", Key: "a", MaxPending: 3}, send)
	defer p.Release()
	accepted := 0
	for i := range 10 {
		if p.Push(i) {
			accepted++
		}
	}
	if accepted != 3 {
		t.Fatalf("accepted %d entries, want max_pending_entries 3", accepted)
	}
	close(block)
	for range 3 {
		<-sent
	}
	// Once processed, room is back.
	deadline := time.Now().Add(5 * time.Second)
	for !p.Push(100) {
		if time.Now().After(deadline) {
			t.Fatal("pending limit never freed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSharedByKeyAndFlushOnRelease(t *testing.T) {
	r := newRecorder()
	c := cfg(100)
	c.InactiveTimeout = 60
	a := Acquire(c, Options{Plugin: "t5", Key: "same", RouteID: "r1"}, r.send)
	b := Acquire(c, Options{Plugin: "t5", Key: "same"}, r.send)
	if a != b {
		t.Fatal("equal keys must share one processor")
	}
	a.Push(1)
	a.Push(2)
	seen := false
	Entries(func(name, route string, n int) {
		if name == "test" && route == "r1" && n == 2 {
			seen = true
		}
	})
	if !seen {
		t.Fatal("Entries did not report the queue")
	}
	a.Release() // b still holds it: nothing is sent
	time.Sleep(50 * time.Millisecond)
	if r.calls != 0 {
		t.Fatal("released while still referenced")
	}
	b.Release()
	got := r.wait(t, 1)
	if !slices.Equal(got[0], []int{1, 2}) {
		t.Fatalf("flushed %v", got[0])
	}
	if b.Push(3) {
		t.Fatal("push after the last release must drop")
	}
}

func BenchmarkPush(b *testing.B) {
	c := cfg(1000)
	p := Acquire(c, Options{Plugin: "bench", Key: "a", MaxPending: 1 << 30},
		func(context.Context, []int) error { return nil })
	defer p.Release()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Push(1)
		}
	})
}
