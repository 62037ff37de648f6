package logentry

import (
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
)

// BatchedOptions describe a batching logger to NewBatched.
type BatchedOptions struct {
	Plugin        string // the plugin's name ("http-logger")
	ProcessorName string // the default batch processor name ("http logger")
	Entry         Options
	// OnStop runs after the processor's last batch (see batch.Options.OnStop).
	OnStop func()
}

// Batched is the common body of a batching logger instance (http, tcp, udp, syslog, kafka,
// loki, elasticsearch): access reads the request body when needed, log builds the entry and
// pushes it to the conf's batch processor, Close gives the processor back.
type Batched struct {
	Builder *Builder
	Proc    *batch.Processor[*Entry]
	plugin  string
	log     *slog.Logger
}

// BatchedBody is Batched for a conf with include_resp_body: it also runs in body_filter.
// (Only such instances implement plugin.BodyFilterer, so others cost no body filter pass.)
type BatchedBody struct{ *Batched }

// NewBatched compiles the entry and batch parts of conf and acquires the processor that
// send drains. It returns *Batched or *BatchedBody (a plugin.Logger, plugin.Accessor and
// plugin.Closer). Instances with equal conf, parent and metadata share one processor.
func NewBatched(conf json.RawMessage, env plugin.Env, o BatchedOptions, send batch.Sender[*Entry]) (any, error) {
	b, err := o.Compile(conf, env, send)
	if err != nil {
		return nil, err
	}
	if b.Builder.CapturesResponse() {
		return &BatchedBody{b}, nil
	}
	return b, nil
}

// Compile is NewBatched returning the concrete *Batched, for loggers that wrap it.
func (o BatchedOptions) Compile(conf json.RawMessage, env plugin.Env, send batch.Sender[*Entry]) (*Batched, error) {
	builder, proc, err := AcquireBatch(conf, env, o, send)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Batched{Builder: builder, Proc: proc, plugin: o.Plugin, log: log}, nil
}

// AcquireBatch compiles conf's entry builder and acquires the batch processor that send
// drains, for loggers whose queue items carry more than the entry (kafka, loki,
// elasticsearch). Instances with equal conf, parent and metadata share one processor, whose
// send and OnStop are the first instance's.
func AcquireBatch[T any](conf json.RawMessage, env plugin.Env, o BatchedOptions, send batch.Sender[T]) (*Builder, *batch.Processor[T], error) {
	builder, err := New(conf, env, o.Entry)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := batch.ParseConfig(conf, o.ProcessorName)
	if err != nil {
		return nil, nil, err
	}
	proc := batch.Acquire(cfg, batch.Options{
		Plugin:     o.Plugin,
		Key:        env.Parent + "\x00" + string(conf) + "\x00" + string(env.Metadata),
		RouteID:    RouteIDOf(env.Parent),
		MaxPending: batch.MaxPending(env.Metadata),
		Logger:     env.Logger,
		OnStop:     o.OnStop,
	}, send)
	return builder, proc, nil
}

// RouteIDOf returns the route id of a parent key ("/apisix/routes/1" → "1"), "" for others.
func RouteIDOf(parent string) string {
	if i := strings.LastIndex(parent, "/routes/"); i >= 0 {
		return parent[i+len("/routes/"):]
	}
	return ""
}

func (b *Batched) Access(c plugin.Ctx) { b.Builder.Access(c) }
func (b *Batched) Log(c plugin.Ctx)    { b.Proc.Push(b.Builder.Build(c)) }
func (b *Batched) Close()              { b.Proc.Release() }

// StreamLog queues a stream connection's entry (the loggers registered for stream routes:
// syslog). Without log_format there is no entry, as in APISIX.
func (b *Batched) StreamLog(c plugin.StreamCtx) {
	e, err := b.Builder.BuildStream(c)
	if err != nil {
		b.log.Error(b.plugin+"'s "+err.Error(), "route_id", c.RouteID())
		return
	}
	b.Proc.Push(e)
}

func (b *BatchedBody) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return b.Builder.BodyFilter(c, chunk, eof)
}

// Encode is the wire form of a batch for http, tcp, udp and kafka: one JSON object when
// batch_max_size is 1, else a JSON array.
func Encode(dst []byte, cfg batch.Config, entries []*Entry) []byte {
	if cfg.BatchMaxSize == 1 && len(entries) == 1 {
		return entries[0].AppendJSON(dst)
	}
	return AppendArray(dst, entries)
}

var (
	_ plugin.Logger       = (*Batched)(nil)
	_ plugin.Accessor     = (*Batched)(nil)
	_ plugin.Closer       = (*Batched)(nil)
	_ plugin.BodyFilterer = (*BatchedBody)(nil)
)
