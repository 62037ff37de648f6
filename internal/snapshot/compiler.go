package snapshot

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicegw/sluice/plugin"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/store"
	sltls "github.com/sluicegw/sluice/internal/tls"
	"github.com/sluicegw/sluice/internal/upstream"
)

// DefaultDebounce is the minimum interval between two builds: a burst of writes costs one
// build per interval, while a lone write is built at once.
const DefaultDebounce = 5 * time.Millisecond

// Options configure a Compiler.
type Options struct {
	Prefix     string // etcd key prefix, default "/apisix"
	RouterMode router.Mode
	Logger     *slog.Logger
	// Debounce is the minimum interval between builds (events arriving within it are
	// coalesced into the next build); 0 means DefaultDebounce, negative means no minimum
	// (each build still takes every event already queued).
	Debounce time.Duration
	// Supported reports whether a plugin has behaviour in this build. Nil means none does:
	// every route naming an enabled plugin fails closed.
	Supported func(plugin string) bool
	// Enabled reports whether a plugin is in the node's `plugins:` list. A conf naming a
	// plugin that is not is ignored, as APISIX's plugin filter does (nil: all are enabled).
	Enabled func(plugin string) bool
	// StreamEnabled reports whether a plugin is in the node's `stream_plugins:` list, for
	// stream routes (nil: all are enabled).
	StreamEnabled func(plugin string) bool
	// Decrypt, when set, decrypts data_encryption fields of an object in place before it is
	// decoded. Optional: the data plane does not need secrets in clear text yet.
	Decrypt func(kind model.Kind, obj map[string]any)
	// Node and Shared give plugin instances the node (Env.Node) and what their
	// Definition.Start returned on it (Env.Shared; nil without Start). Optional.
	Node   plugin.Node
	Shared func(plugin string) any
	// UpstreamPool is the keepalive pool of upstreams without keepalive_pool
	// (nginx_config.http.upstream); zero fields are APISIX's defaults.
	UpstreamPool upstream.PoolDefaults
	// Discovery are the service registries by discovery_type (config.yaml `discovery:`).
	Discovery map[string]upstream.Resolver
	// TLS are the node-wide settings the ssl objects are compiled with (apisix.ssl).
	TLS sltls.Options
	// CloseGrace delays closing the plugin instances a new snapshot no longer uses, so
	// requests still running on the previous snapshot finish with them open (0: at once).
	CloseGrace time.Duration
}

// Compiler follows the store and publishes a Snapshot after every burst of changes.
type Compiler struct {
	st  store.Store
	o   Options
	log *slog.Logger

	cur       atomic.Pointer[Snapshot]
	refresh   chan struct{} // Refresh: rebuild everything
	ready     chan struct{}
	readyOnce sync.Once
	mu        sync.Mutex
	published chan struct{} // closed and replaced at every publish

	b         *builder  // owned by the Run goroutine
	lastBuild time.Time // when the last build started
}

// New returns a compiler over s; call Run to start following the store.
func New(s store.Store, o Options) *Compiler {
	if o.Prefix == "" {
		o.Prefix = "/apisix"
	}
	if o.RouterMode == "" {
		o.RouterMode = router.HostURI
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Enabled == nil {
		o.Enabled = func(string) bool { return true }
	}
	if o.Supported == nil {
		o.Supported = func(string) bool { return false }
	}
	c := &Compiler{
		refresh:   make(chan struct{}, 1),
		st:        s,
		o:         o,
		log:       o.Logger.With("component", "snapshot"),
		ready:     make(chan struct{}),
		published: make(chan struct{}),
	}
	c.b = newBuilder(o, c.log)
	c.cur.Store(emptySnapshot(o.RouterMode))
	return c
}

// Load returns the current snapshot: never nil; before the first publish an empty one.
func (c *Compiler) Load() *Snapshot { return c.cur.Load() }

// Ready is closed once the first complete snapshot is published.
func (c *Compiler) Ready() <-chan struct{} { return c.ready }

// Changed returns a channel closed at the next publish (call again for the one after).
func (c *Compiler) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.published
}

// WaitRevision waits until a published snapshot reflects store revision rev, i.e. a write
// under the prefix that returned rev is live. A revision of a write outside the prefix is
// reached only with the next write inside it.
func (c *Compiler) WaitRevision(ctx context.Context, rev int64) error {
	for {
		ch := c.Changed()
		select {
		case <-c.ready:
			if c.Load().Revision >= rev {
				return nil
			}
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for revision %d (at %d): %w", rev, c.Load().Revision, ctx.Err())
		}
	}
}

// Refresh asks for a rebuild of everything (the enabled plugins or their node-level state
// changed: plugins reload). It does not wait for it.
func (c *Compiler) Refresh() {
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// Run lists the prefix, publishes the first snapshot, then follows the store's watch until
// ctx ends (it then returns nil). A failed list is retried with backoff; a watch channel that
// closes while ctx is live (the store was closed) is an error.
func (c *Compiler) Run(ctx context.Context) error {
	kvs, rev, err := c.initialList(ctx)
	if err != nil {
		return nil // ctx ended while etcd was unreachable
	}
	c.apply(store.Event{Type: store.EventReset, Snapshot: kvs, Revision: rev})
	if !c.rebuild() {
		return errors.New("snapshot: first build failed (see the error log)")
	}
	events := c.st.Watch(ctx, c.o.Prefix+"/", rev+1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("snapshot: store watch closed")
			}
			c.apply(ev)
		case <-c.refresh:
			c.b.full = true
		}
		if !c.collect(ctx, events) {
			return nil
		}
		c.rebuild()
	}
}

// collect applies the rest of a burst. Builds are rate-limited rather than delayed: a write
// after a quiet period is built at once (after whatever is already queued); one arriving within
// Debounce of the previous build waits out that window, collecting everything that comes.
// It reports false when ctx ended.
func (c *Compiler) collect(ctx context.Context, events <-chan store.Event) bool {
	if wait := c.o.Debounce - time.Since(c.lastBuild); c.o.Debounce > 0 && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
	window:
		for {
			select {
			case <-ctx.Done():
				return false
			case ev, ok := <-events:
				if !ok {
					return true // reported by Run's next receive
				}
				c.apply(ev)
			case <-t.C:
				break window
			}
		}
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return true
			}
			c.apply(ev)
		default:
			return ctx.Err() == nil
		}
	}
}

func (c *Compiler) initialList(ctx context.Context) ([]store.KV, int64, error) {
	backoff := 100 * time.Millisecond
	for {
		kvs, rev, err := c.st.List(ctx, c.o.Prefix+"/")
		if err == nil {
			return kvs, rev, nil
		}
		c.log.Warn("list configuration failed, retrying", "prefix", c.o.Prefix, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// apply records one event in the index; nothing is published until rebuild.
func (c *Compiler) apply(ev store.Event) { c.b.apply(ev) }

// rebuild builds and publishes a snapshot of everything applied so far, then closes upstreams
// that left it. A panicking build publishes nothing (the old snapshot keeps serving) and the
// next build starts from scratch. It reports whether a snapshot was published.
func (c *Compiler) rebuild() (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic recovered", "goroutine", "snapshot build", "panic", r)
			c.b.full = true
			ok = false
		}
	}()
	start := time.Now()
	c.lastBuild = start
	s, retired := c.b.build()
	c.publish(s)
	for _, u := range retired {
		u.Close()
	}
	if retiredPlugins := c.b.takeRetiredPlugins(); len(retiredPlugins) > 0 {
		closeAll := func() {
			for _, in := range retiredPlugins {
				in.Close()
			}
		}
		if c.o.CloseGrace > 0 {
			// requests that loaded the previous snapshot may still run these instances
			time.AfterFunc(c.o.CloseGrace, closeAll)
		} else {
			closeAll()
		}
	}
	c.log.Debug("snapshot published", "revision", s.Revision, "routes", len(s.Routes),
		"errors", len(s.Errors), "took", time.Since(start))
	return true
}

func (c *Compiler) publish(s *Snapshot) {
	c.cur.Store(s)
	c.readyOnce.Do(func() { close(c.ready) })
	c.mu.Lock()
	close(c.published)
	c.published = make(chan struct{})
	c.mu.Unlock()
}
