package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// Defaults of the embedded server.
const (
	DefaultListenClient = "http://127.0.0.1:2379"
	DefaultListenPeer   = "http://127.0.0.1:2380"
	// DefaultCompactionRetention keeps one hour of history: periodic auto-compaction bounds the
	// database size while letting a watcher that lost its connection for less than that resume
	// without a full re-list.
	DefaultCompactionRetention = time.Hour
	// DefaultProgressNotifyInterval is how often the server tells idle watchers its revision;
	// Store uses those notifications to tell a silent stream from a dead one.
	DefaultProgressNotifyInterval = 5 * time.Second
	// defaultStartTimeout bounds StartEmbedded when ctx has no deadline.
	defaultStartTimeout = time.Minute
)

// EmbeddedOptions configure the in-process etcd server.
type EmbeddedOptions struct {
	Dir          string // data directory (created if missing)
	ListenClient string // default http://127.0.0.1:2379
	ListenPeer   string // default http://127.0.0.1:2380
	// UnsafeNoFsync turns fsync off; for tests only.
	UnsafeNoFsync bool
	Logger        *slog.Logger
	// CompactionRetention is the periodic auto-compaction window; 0 means
	// DefaultCompactionRetention. Auto-compaction cannot be turned off.
	CompactionRetention time.Duration
	// ProgressNotifyInterval: 0 means DefaultProgressNotifyInterval.
	ProgressNotifyInterval time.Duration
}

// Embedded is a running in-process etcd server (one member, its own single-node cluster).
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
	// closing: Close began; etcd's own shutdown errors (its listeners closing) log at debug
	closing *atomic.Bool
}

// StartEmbedded starts the server and waits until it serves clients. A failure to start
// (address in use, unusable directory) or to become ready before ctx's deadline (one minute
// when ctx has none) is returned as an error; the server is then stopped.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	closing := new(atomic.Bool)
	cfg, err := embedConfig(o, closing)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: data dir: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}

	// embed.StartEtcd itself can block (e.g. on a data dir locked by another process), so it
	// runs aside and a late success is closed rather than leaked.
	type started struct {
		e   *embed.Etcd
		err error
	}
	done := make(chan started, 1)
	go func() {
		defer recoverAndLog(o.Logger, "embedded etcd start")
		e, err := embed.StartEtcd(cfg)
		done <- started{e, err}
	}()
	var e *embed.Etcd
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("start embedded etcd in %s: %w", o.Dir, r.err)
		}
		e = r.e
	case <-ctx.Done():
		go func() {
			defer recoverAndLog(o.Logger, "embedded etcd late close")
			if r := <-done; r.e != nil {
				r.e.Close()
			}
		}()
		return nil, fmt.Errorf("start embedded etcd in %s: %w", o.Dir, ctx.Err())
	}

	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", o.Dir, err)
	case <-e.Server.StopNotify():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s stopped before it was ready", o.Dir)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s not ready: %w", o.Dir, ctx.Err())
	}
	endpoints := make([]string, 0, len(cfg.AdvertiseClientUrls))
	for _, u := range cfg.AdvertiseClientUrls {
		endpoints = append(endpoints, u.String())
	}
	return &Embedded{etcd: e, endpoints: endpoints, closing: closing}, nil
}

func embedConfig(o EmbeddedOptions, closing *atomic.Bool) (*embed.Config, error) {
	if o.Dir == "" {
		return nil, errors.New("data dir is required")
	}
	client, err := parseURL(o.ListenClient, DefaultListenClient)
	if err != nil {
		return nil, fmt.Errorf("client URL: %w", err)
	}
	peer, err := parseURL(o.ListenPeer, DefaultListenPeer)
	if err != nil {
		return nil, fmt.Errorf("peer URL: %w", err)
	}
	retention := o.CompactionRetention
	if retention <= 0 {
		retention = DefaultCompactionRetention
	}
	progress := o.ProgressNotifyInterval
	if progress <= 0 {
		progress = DefaultProgressNotifyInterval
	}

	cfg := embed.NewConfig()
	cfg.Name = "sluice"
	cfg.Dir = o.Dir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = retention.String()
	cfg.WatchProgressNotifyInterval = progress
	cfg.UnsafeNoFsync = o.UnsafeNoFsync
	// etcd is chatty at info level; only its errors are worth the gateway's log.
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLoggerClosing(o.Logger, zapcore.ErrorLevel, closing))
	return cfg, nil
}

func parseURL(raw, def string) (*url.URL, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q: want http://host:port", raw)
	}
	return u, nil
}

// Endpoints returns the client URLs to pass to New.
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Close stops the server and waits until it has released its ports and data dir.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		e.etcd.Close()
	})
	return nil
}

// recoverAndLog is deferred by every goroutine of this package: a panic is logged, not fatal.
func recoverAndLog(logger *slog.Logger, what string) {
	if r := recover(); r != nil {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Error("panic recovered", "component", "etcd", "goroutine", what, "panic", r)
	}
}
