package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluicegw/sluice/internal/store"
)

// Retry pacing of a watch whose stream or re-list failed.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// listTimeout bounds one re-list attempt, so an unreachable etcd costs a retry, not a hang.
	listTimeout = 10 * time.Second
)

// Watch streams changes under prefix from revision rev (rev <= 0: from now), following the
// store.Store contract: after a compaction, a broken or cancelled stream, or a stream silent
// for three progress intervals, it re-lists the prefix, sends one EventReset, and continues
// from that list's revision + 1. The channel is closed only when ctx is done or Close is called.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan store.Event {
	out := make(chan store.Event, 64)
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.closed, cancel)

	s.mu.Lock()
	if s.closed.Err() != nil {
		s.mu.Unlock()
		stopOnClose()
		cancel()
		close(out)
		return out
	}
	s.watchers.Add(1)
	s.mu.Unlock()

	w := &watcher{
		s:      s,
		prefix: prefix,
		next:   rev,
		out:    out,
		logger: s.logger.With("prefix", prefix),
	}
	go func() {
		// A panic outside the guarded stream (e.g. in a re-list) ends this watch, not the process.
		defer recoverAndLog(s.logger, "watch")
		defer s.watchers.Done()
		defer close(out)
		defer stopOnClose()
		defer cancel()
		w.run(ctx)
	}()
	return out
}

// watcher is the state of one Watch: where to resume, and whether the receiver's view must be
// rebuilt before anything else is delivered.
type watcher struct {
	s         *Store
	prefix    string
	next      int64 // first revision not yet delivered
	needReset bool
	backoff   time.Duration
	out       chan<- store.Event
	logger    *slog.Logger
}

func (w *watcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		if w.needReset {
			if err := w.reset(ctx); err != nil {
				if ctx.Err() == nil {
					w.logger.Warn("etcd watch: re-list failed, retrying", "error", err, "retry_in", w.backoff)
				}
				w.sleep(ctx)
				continue
			}
		}
		delivered, err := w.guardedStream(ctx)
		if ctx.Err() != nil {
			return
		}
		w.needReset = true
		if errors.Is(err, store.ErrCompacted) {
			// Expected after a long disconnect or for a stale start revision: not a failure,
			// so re-list at once.
			w.logger.Info("etcd watch: history compacted, re-listing", "error", err)
			continue
		}
		w.logger.Warn("etcd watch interrupted, re-listing", "revision", w.next, "error", err)
		if !delivered {
			// The stream broke before yielding anything: pause, so a persistently failing
			// stream costs a re-list per backoff step, not a busy loop.
			w.sleep(ctx)
		} else {
			w.backoff = 0
		}
	}
}

// guardedStream runs one stream, turning a panic into an error so the watch recovers with a
// reset instead of closing the receiver's channel.
func (w *watcher) guardedStream(ctx context.Context) (delivered bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			w.logger.Error("panic recovered", "component", "etcd", "goroutine", "watch", "panic", r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return w.stream(ctx)
}

// stream follows one etcd watch from w.next until it must be re-established; it reports
// whether it delivered or observed anything, and why it ended.
func (w *watcher) stream(ctx context.Context) (bool, error) {
	// WithRequireLeader: a member cut off from its cluster ends the stream instead of serving
	// a silently stale view.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithProgressNotify()}
	if w.next > 0 {
		opts = append(opts, clientv3.WithRev(w.next))
	}
	wch := w.s.client.Watch(wctx, w.prefix, opts...)

	interval := w.s.progress
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last := time.Now()
	delivered := false
	for {
		select {
		case <-ctx.Done():
			return delivered, ctx.Err()
		case <-ticker.C:
			silent := time.Since(last)
			if silent >= 3*interval {
				return delivered, fmt.Errorf("no event or progress notification for %s", silent.Round(time.Millisecond))
			}
			if silent >= interval {
				// External etcd may not send periodic notifications often enough (or at all);
				// asking is how a live but idle stream proves it is alive.
				if err := w.s.client.RequestProgress(wctx); err != nil {
					w.logger.Debug("etcd watch: request progress", "error", err)
				}
			}
		case resp, ok := <-wch:
			if !ok {
				return delivered, errors.New("watch channel closed")
			}
			last = time.Now()
			if resp.CompactRevision != 0 {
				return delivered, fmt.Errorf("watch from revision %d: %w (compacted at %d)",
					w.next, store.ErrCompacted, resp.CompactRevision)
			}
			if err := resp.Err(); err != nil {
				return delivered, fmt.Errorf("watch: %w", err)
			}
			if resp.Canceled {
				return delivered, errors.New("watch cancelled by the server")
			}
			delivered = true
			// A progress notification only proves the stream alive. Its revision is not used
			// to move w.next: every re-established stream starts from a re-list, and etcd 3.4
			// answers progress requests even for watchers that have not caught up yet.
			if resp.IsProgressNotify() {
				continue
			}
			for _, ev := range resp.Events {
				e := toEvent(ev)
				if !w.send(ctx, e) {
					return delivered, ctx.Err()
				}
				w.next = e.Revision + 1
			}
		}
	}
}

// reset lists the prefix and delivers it as one EventReset; the watch then resumes right
// after the list's revision, so nothing between the two is lost or repeated.
func (w *watcher) reset(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	kvs, rev, err := w.s.List(lctx, w.prefix)
	if err != nil {
		return err
	}
	if !w.send(ctx, store.Event{Type: store.EventReset, Snapshot: kvs, Revision: rev}) {
		return ctx.Err()
	}
	w.next = rev + 1
	w.needReset = false
	w.backoff = 0
	return nil
}

func (w *watcher) send(ctx context.Context, e store.Event) bool {
	select {
	case w.out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleep waits the current backoff (doubling it for next time) or until ctx is done.
func (w *watcher) sleep(ctx context.Context) {
	switch {
	case w.backoff < minBackoff:
		w.backoff = minBackoff
	case w.backoff < maxBackoff:
		w.backoff = min(2*w.backoff, maxBackoff)
	}
	t := time.NewTimer(w.backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func toEvent(ev *clientv3.Event) store.Event {
	kv := toKV(ev.Kv)
	e := store.Event{Type: store.EventPut, KV: kv, Revision: kv.ModRevision}
	if ev.Type == clientv3.EventTypeDelete {
		e.Type = store.EventDelete
		e.KV.Value = nil
	}
	return e
}
