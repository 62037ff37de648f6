// Package batch is APISIX's batch processor (apisix/utils/batch-processor.lua and its manager)
// for the logger plugins: entries pushed on the request path are buffered per processor and
// handed to the logger's send function in batches, off the request path.
//
// Semantics, as APISIX: a batch is sent when the buffer holds batch_max_size entries, when no
// entry arrived for inactive_timeout seconds, or when the oldest buffered entry is
// buffer_duration seconds old; a failed batch is retried max_retry_count times retry_delay
// seconds apart and then dropped; a send may report partial success and then only the tail is
// retried. Instances whose conf (and parent) are equal share one processor, as APISIX keys its
// processors by conf. Per plugin at most max_pending_entries (plugin metadata, default 8192)
// entries may be pushed but not yet processed; beyond that new entries are dropped and
// counted.
//
// The request path only calls Push: it never blocks on I/O and takes no lock shared beyond
// one processor (a short mutex around an append). Sending runs on the processor's goroutine.
package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxPending is APISIX's default max_pending_entries.
const DefaultMaxPending = 8192

// Config is the batch processor attributes every batching logger's conf carries.
type Config struct {
	Name            string `json:"name"`
	BatchMaxSize    int    `json:"batch_max_size"`
	InactiveTimeout int    `json:"inactive_timeout"` // seconds
	BufferDuration  int    `json:"buffer_duration"`  // seconds
	MaxRetryCount   int    `json:"max_retry_count"`
	RetryDelay      int    `json:"retry_delay"` // seconds
}

// ParseConfig reads the batch attributes from a logger's conf (other fields are ignored) and
// fills in APISIX's defaults; defaultName is the plugin's processor name ("http logger").
func ParseConfig(conf json.RawMessage, defaultName string) (Config, error) {
	c := Config{Name: defaultName, BatchMaxSize: 1000, InactiveTimeout: 5, BufferDuration: 60, RetryDelay: 1}
	if len(conf) > 0 {
		if err := json.Unmarshal(conf, &c); err != nil {
			return Config{}, fmt.Errorf("batch processor conf: %w", err)
		}
	}
	switch {
	case c.BatchMaxSize < 1:
		return Config{}, errors.New("batch_max_size must be at least 1")
	case c.InactiveTimeout < 1:
		return Config{}, errors.New("inactive_timeout must be at least 1")
	case c.BufferDuration < 1:
		return Config{}, errors.New("buffer_duration must be at least 1")
	case c.MaxRetryCount < 0 || c.RetryDelay < 0:
		return Config{}, errors.New("max_retry_count and retry_delay must not be negative")
	}
	return c, nil
}

// MaxPending reads max_pending_entries from a logger's plugin metadata (nil: the default).
func MaxPending(metadata json.RawMessage) int {
	var m struct {
		MaxPending int `json:"max_pending_entries"`
	}
	if len(metadata) == 0 || json.Unmarshal(metadata, &m) != nil || m.MaxPending < 1 {
		return DefaultMaxPending
	}
	return m.MaxPending
}

// Sender sends one batch. A nil error is success; a *PartialError says which entries failed;
// any other error fails the whole batch. batch is only valid during the call.
type Sender[T any] func(ctx context.Context, batch []T) error

// PartialError reports that batch[:FirstFail] was sent and batch[FirstFail:] was not (APISIX's
// first_fail, 0-based here); only the tail is retried.
type PartialError struct {
	FirstFail int
	Err       error
}

func (e *PartialError) Error() string { return e.Err.Error() }
func (e *PartialError) Unwrap() error { return e.Err }

// Options identify a processor.
type Options struct {
	// Plugin is the plugin's name: the max_pending_entries limit applies per plugin.
	Plugin string
	// Key identifies the processor within the plugin: Acquire with an equal Plugin and Key
	// returns the same processor. Compose it from everything the Sender depends on (the conf,
	// the parent, the metadata the entries are built with).
	Key string
	// RouteID labels the processor in Entries ("" when the conf is not a route's).
	RouteID string
	// MaxPending is max_pending_entries (< 1: DefaultMaxPending).
	MaxPending int
	Logger     *slog.Logger
	// OnStop, when set, runs on the processor's goroutine after its last batch (to close a
	// connection the Sender keeps).
	OnStop func()
}

// Processor buffers and sends one conf's entries.
type Processor[T any] struct {
	cfg    Config
	send   Sender[T]
	log    *slog.Logger
	lim    *limiter
	id     string
	route  string
	onStop func()
	refs   int // under regMu
	queued atomic.Int64

	mu          sync.Mutex
	buf         []T
	first, last time.Time
	stopped     bool

	kick chan struct{}
	stop chan struct{}

	// Failure logging, owned by the run goroutine.
	lastFail   time.Time
	suppressed int
}

// limiter is the per-plugin pending-entry bound (APISIX: per plugin, per worker). Limiters
// are few (one per plugin and configured limit) and never freed.
type limiter struct {
	limit     atomic.Int64
	pending   atomic.Int64 // pushed - processed
	pushed    atomic.Uint64
	processed atomic.Uint64
	dropped   atomic.Uint64
	lastLog   atomic.Int64 // unix seconds of the last "limit exceeded" log
}

type entryCounter interface {
	label() (name, routeID string)
	length() int
}

// The registry is deliberately shared state: processors are keyed by plugin and conf so that
// instances rebuilt from an unchanged conf keep their buffer, and the per-plugin pending limit
// spans every processor of the plugin. It is only locked in Acquire, Release and Entries,
// never on the request path.
var (
	regMu      sync.Mutex
	processors = map[string]entryCounter{}
	limiters   = map[string]*limiter{}
	running    sync.WaitGroup
	dropped    atomic.Uint64
	shutdownCh = make(chan struct{})
	shutOnce   sync.Once
)

// Acquire returns the processor for (o.Plugin, o.Key), starting it if none runs, and takes a
// reference the caller gives back with Release (from its instance's Close). An existing
// processor keeps its Config and Sender.
func Acquire[T any](cfg Config, o Options, send Sender[T]) *Processor[T] {
	if o.MaxPending < 1 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	id := o.Plugin + "\x00" + o.Key
	regMu.Lock()
	defer regMu.Unlock()
	// Limiters are keyed by plugin and limit: a metadata change gives the new instances a new
	// limiter while the old ones drain, and a validation-time New cannot reset a live limit.
	limKey := o.Plugin + "\x00" + strconv.Itoa(o.MaxPending)
	lim := limiters[limKey]
	if lim == nil {
		lim = &limiter{}
		lim.limit.Store(int64(o.MaxPending))
		limiters[limKey] = lim
	}
	if p, ok := processors[id].(*Processor[T]); ok {
		p.refs++
		return p
	}
	p := &Processor[T]{
		cfg: cfg, send: send, log: o.Logger.With("batch_processor", cfg.Name), lim: lim, id: id,
		route: o.RouteID, onStop: o.OnStop, refs: 1, kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	processors[id] = p
	running.Add(1)
	go p.run()
	return p
}

// Push queues e without blocking. It reports false when e was dropped: the plugin's pending
// limit was reached, or the processor was released.
func (p *Processor[T]) Push(e T) bool {
	if n := p.lim.pending.Add(1); n > p.lim.limit.Load() {
		p.lim.pending.Add(-1)
		p.drop()
		return false
	}
	now := time.Now()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.lim.pending.Add(-1)
		dropped.Add(1)
		return false
	}
	p.buf = append(p.buf, e)
	p.lim.pushed.Add(1)
	n := len(p.buf)
	if n == 1 {
		p.first = now
	}
	p.last = now
	p.mu.Unlock()
	p.queued.Store(int64(n))
	if n == 1 || n >= p.cfg.BatchMaxSize {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// drop counts an entry refused by the pending limit and logs it at most once a second, in
// APISIX's words.
func (p *Processor[T]) drop() {
	discarded := p.lim.dropped.Add(1)
	dropped.Add(1)
	now := time.Now().Unix()
	if last := p.lim.lastLog.Load(); last != now && p.lim.lastLog.CompareAndSwap(last, now) {
		p.log.Error(fmt.Sprintf("max pending entries limit exceeded. discarding entry. "+
			"total_pushed_entries: %d total_processed_entries: %d max_pending_entries: %d discarded_entries: %d",
			p.lim.pushed.Load(), p.lim.processed.Load(), p.lim.limit.Load(), discarded))
	}
}

// Release gives back the reference Acquire took. The last release stops the processor: what
// it holds is sent in the background (with the usual retries) and later pushes are dropped.
func (p *Processor[T]) Release() {
	regMu.Lock()
	p.refs--
	last := p.refs == 0
	if last && processors[p.id] == entryCounter(p) {
		delete(processors, p.id)
	}
	regMu.Unlock()
	if last {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		close(p.stop)
	}
}

// Config returns the processor's configuration.
func (p *Processor[T]) Config() Config { return p.cfg }

func (p *Processor[T]) label() (string, string) { return p.cfg.Name, p.route }
func (p *Processor[T]) length() int             { return int(p.queued.Load()) }

func (p *Processor[T]) run() {
	defer running.Done()
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("panic recovered", "goroutine", "batch processor", "panic", r)
		}
	}()
	if p.onStop != nil {
		defer p.onStop()
	}
	inactive := time.Duration(p.cfg.InactiveTimeout) * time.Second
	maxAge := time.Duration(p.cfg.BufferDuration) * time.Second
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-p.kick:
		case <-timer.C:
		case <-p.stop:
			p.flush()
			return
		case <-shutdownCh:
			p.flush()
			return
		}
		// Full batches go at once; a partial one when idle or old enough.
		for p.sendFull() {
		}
		p.mu.Lock()
		n, first, last := len(p.buf), p.first, p.last
		p.mu.Unlock()
		if n == 0 {
			continue
		}
		now := time.Now()
		if now.Sub(last) >= inactive || now.Sub(first) >= maxAge {
			p.flush()
			continue
		}
		timer.Reset(min(last.Add(inactive).Sub(now), first.Add(maxAge).Sub(now)))
	}
}

// sendFull sends one batch_max_size batch when the buffer holds one.
func (p *Processor[T]) sendFull() bool {
	size := p.cfg.BatchMaxSize
	p.mu.Lock()
	if len(p.buf) < size {
		p.mu.Unlock()
		return false
	}
	batch := make([]T, size)
	copy(batch, p.buf)
	rest := copy(p.buf, p.buf[size:])
	clear(p.buf[rest:])
	p.buf = p.buf[:rest]
	if rest > 0 {
		p.first = time.Now() // the remainder starts a new batch window
	}
	p.mu.Unlock()
	p.queued.Store(int64(rest))
	p.process(batch)
	return true
}

// flush sends everything buffered, in batch_max_size batches.
func (p *Processor[T]) flush() {
	p.mu.Lock()
	all := p.buf
	p.buf = nil
	p.mu.Unlock()
	p.queued.Store(0)
	for len(all) > 0 {
		n := min(len(all), p.cfg.BatchMaxSize)
		p.process(all[:n])
		all = all[n:]
	}
}

// process sends one batch with APISIX's retries and counts it processed either way.
func (p *Processor[T]) process(batch []T) {
	defer func() {
		p.lim.processed.Add(uint64(len(batch)))
		p.lim.pending.Add(-int64(len(batch)))
	}()
	pending := batch
	for attempt := 0; ; attempt++ {
		err := p.sendOnce(pending)
		if err == nil {
			return
		}
		var pe *PartialError
		if errors.As(err, &pe) && pe.FirstFail > 0 && pe.FirstFail < len(pending) {
			pending = pending[pe.FirstFail:]
		}
		quiet := p.quiet()
		if !quiet {
			p.log.Error(fmt.Sprintf("Batch Processor[%s] failed to process entries: %v", p.cfg.Name, err),
				"suppressed", p.suppressed)
			p.suppressed = 0
		}
		if attempt >= p.cfg.MaxRetryCount {
			if !quiet {
				p.log.Error(fmt.Sprintf("Batch Processor[%s] exceeded the max_retry_count[%d] dropping the entries",
					p.cfg.Name, p.cfg.MaxRetryCount))
			}
			dropped.Add(uint64(len(pending)))
			return
		}
		if !p.sleep(time.Duration(p.cfg.RetryDelay) * time.Second) {
			dropped.Add(uint64(len(pending)))
			return
		}
	}
}

// quiet reports whether a failure was already logged in the last second: a dead collector
// with batch_max_size 1 would otherwise cost two log lines per request. Suppressed failures
// are counted in the next line logged.
func (p *Processor[T]) quiet() bool {
	now := time.Now()
	if now.Sub(p.lastFail) < time.Second {
		p.suppressed++
		return true
	}
	p.lastFail = now
	return false
}

func (p *Processor[T]) sendOnce(batch []T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("send panicked: %v", r)
		}
	}()
	return p.send(context.Background(), batch)
}

// sleep waits d before a retry; a node shutdown cuts it short (false: give up).
func (p *Processor[T]) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-shutdownCh:
		return false
	}
}

// Entries visits every running processor with its current buffer length, for prometheus's
// apisix_batch_process_entries{name, route_id}.
func Entries(fn func(name, routeID string, n int)) {
	regMu.Lock()
	list := make([]entryCounter, 0, len(processors))
	for _, p := range processors {
		list = append(list, p)
	}
	regMu.Unlock()
	for _, p := range list {
		name, route := p.label()
		fn(name, route, p.length())
	}
}

// Dropped returns how many entries were discarded since start: over the pending limit, pushed
// to a released processor, or failed after the last retry.
func Dropped() uint64 { return dropped.Load() }

// Shutdown sends what every processor holds (failed batches are not retried any more) and
// waits until all processors stopped or ctx ends. The node calls it once when it stops; no
// processor may be acquired afterwards.
func Shutdown(ctx context.Context) error {
	shutOnce.Do(func() { close(shutdownCh) })
	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("batch processors still sending: %w", ctx.Err())
	}
}
