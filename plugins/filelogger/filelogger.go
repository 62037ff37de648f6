// Package filelogger registers APISIX's file-logger plugin, which appends access-log entries as
// JSON lines to a local file (apisix/plugins/file-logger.lua).
//
// The log phase only enqueues the entry: one writer goroutine per file path (shared by every
// instance naming that path) encodes and appends. A rotated file is noticed before each write
// (the path names another inode, or none: the file is reopened, created if need be), and
// SIGUSR1, as for nginx, reopens every file at once.
package filelogger

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/file-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "file-logger",
		Priority:       399,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		New:            New,
	})
}

// queueSize bounds the entries waiting for one file's writer; beyond it entries are dropped
// (and counted) rather than holding up requests behind a slow disk.
const queueSize = 8192

type conf struct {
	Path  string `json:"path"`
	Match []any  `json:"match"`
}

// instance is one file-logger conf.
type instance struct {
	b     *logentry.Builder
	match []*expr.Expr // any true: log (none: always)
	w     *writer
}

type instanceBody struct{ *instance }

// New compiles one file-logger conf. A path whose directory does not exist is a configuration
// error; the file itself is opened (created) by the writer, so validating a conf creates none.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	var c conf
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.Path == "" && len(env.Metadata) > 0 {
		var m conf
		if err := json.Unmarshal(env.Metadata, &m); err == nil {
			c.Path = m.Path
		}
	}
	if c.Path == "" {
		return nil, errors.New(`property "path" is not set in either the plugin conf or the metadata`)
	}
	in := &instance{}
	for _, m := range c.Match {
		e, err := expr.Compile(m)
		if err != nil {
			return nil, fmt.Errorf("failed to validate the 'match' expression: %v", err)
		}
		in.match = append(in.match, e)
	}
	b, err := logentry.New(raw, env, logentry.Options{})
	if err != nil {
		return nil, err
	}
	in.b = b
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	if in.w, err = acquire(c.Path, log); err != nil {
		return nil, err
	}
	if b.CapturesResponse() {
		return &instanceBody{in}, nil
	}
	return in, nil
}

func (in *instance) Access(c plugin.Ctx) { in.b.Access(c) }

func (in *instance) Log(c plugin.Ctx) {
	if len(in.match) > 0 {
		hit := false
		for _, m := range in.match {
			if m.Eval(c) {
				hit = true
				break
			}
		}
		if !hit {
			return
		}
	}
	in.w.push(in.b.Build(c))
}

func (in *instance) Close() { in.w.release() }

func (in *instanceBody) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return in.b.BodyFilter(c, chunk, eof)
}

// writer appends entries to one path. Writers are shared by path (a registry keyed by the
// cleaned path) so that instances naming the same file never interleave partial lines.
type writer struct {
	path    string
	log     *slog.Logger
	refs    int // under regMu
	queue   chan *logentry.Entry
	reopen  chan struct{}
	stop    chan struct{}
	done    chan struct{}
	dropped atomic.Uint64
	f       *os.File // owned by the run goroutine; nil until the first write
}

var (
	regMu   sync.Mutex
	writers = map[string]*writer{}
	sigOnce sync.Once
)

func acquire(path string, log *slog.Logger) (*writer, error) {
	path = filepath.Clean(path)
	regMu.Lock()
	defer regMu.Unlock()
	if w := writers[path]; w != nil {
		w.refs++
		return w, nil
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("failed to open file: %s, error info: directory %s does not exist", path, filepath.Dir(path))
	}
	w := &writer{path: path, log: log.With("path", path), refs: 1,
		queue: make(chan *logentry.Entry, queueSize), reopen: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	writers[path] = w
	go w.run()
	sigOnce.Do(watchSignal)
	return w, nil
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open file: %s, error info: %w", path, err)
	}
	return f, nil
}

// Reopen makes every file-logger reopen its file before the next write: what SIGUSR1 does,
// for a rotation tool that renamed the files (nginx's `kill -USR1`).
func Reopen() {
	regMu.Lock()
	defer regMu.Unlock()
	for _, w := range writers {
		select {
		case w.reopen <- struct{}{}:
		default:
		}
	}
}

// watchSignal reopens the files on SIGUSR1 for the life of the process.
func watchSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for range ch {
			Reopen()
		}
	}()
}

// push enqueues e without blocking; a full queue drops it.
func (w *writer) push(e *logentry.Entry) {
	select {
	case w.queue <- e:
	default:
		if n := w.dropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8 ... drops
			w.log.Error("file-logger queue full, entries dropped", "dropped", n)
		}
	}
}

func (w *writer) release() {
	regMu.Lock()
	w.refs--
	last := w.refs == 0
	if last {
		delete(writers, w.path)
	}
	regMu.Unlock()
	if last {
		close(w.stop)
	}
}

func (w *writer) run() {
	defer close(w.done)
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("panic recovered", "goroutine", "file-logger writer", "panic", r)
		}
		if w.f != nil {
			w.f.Close()
		}
	}()
	var buf []byte
	for {
		select {
		case e := <-w.queue:
			buf = w.drain(buf[:0], e)
			w.write(buf, false)
		case <-w.reopen:
			w.write(nil, true)
		case <-w.stop:
			for {
				select {
				case e := <-w.queue:
					buf = w.drain(buf[:0], e)
					w.write(buf, false)
				default:
					return
				}
			}
		}
	}
}

// drain encodes e and whatever else is queued, so a burst is one write.
func (w *writer) drain(buf []byte, e *logentry.Entry) []byte {
	buf = append(e.AppendJSON(buf), '\n')
	for len(buf) < 64<<10 {
		select {
		case e := <-w.queue:
			buf = append(e.AppendJSON(buf), '\n')
		default:
			return buf
		}
	}
	return buf
}

// write appends buf, first reopening the file when forced or when the path no longer names
// the open file (moved or removed by a rotation).
func (w *writer) write(buf []byte, force bool) {
	if force || w.rotated() {
		if f, err := openLog(w.path); err != nil {
			w.log.Error("reopen log file", "error", err)
		} else {
			if w.f != nil {
				w.f.Close()
			}
			w.f = f
		}
	}
	if len(buf) == 0 || w.f == nil {
		return
	}
	if _, err := w.f.Write(buf); err != nil {
		w.log.Error("failed to write log", "error", err)
	}
}

func (w *writer) rotated() bool {
	if w.f == nil {
		return true
	}
	cur, err := os.Stat(w.path)
	if err != nil {
		return true
	}
	open, err := w.f.Stat()
	return err != nil || !os.SameFile(cur, open)
}

var (
	_ plugin.Logger       = (*instance)(nil)
	_ plugin.Accessor     = (*instance)(nil)
	_ plugin.Closer       = (*instance)(nil)
	_ plugin.BodyFilterer = (*instanceBody)(nil)
)
