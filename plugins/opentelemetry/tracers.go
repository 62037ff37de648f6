package opentelemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicegw/sluice/plugin"
)

// tracerConf is the plugin_metadata object (or the node's plugin_attr.opentelemetry block):
// where spans go and how they are batched. Absent fields take the metadata schema's defaults.
type tracerConf struct {
	TraceIDSource string         `json:"trace_id_source"`
	Resource      map[string]any `json:"resource"`
	Collector     *struct {
		Address        string         `json:"address"`
		RequestTimeout *float64       `json:"request_timeout"`
		RequestHeaders map[string]any `json:"request_headers"`
	} `json:"collector"`
	BatchSpanProcessor struct {
		DropOnQueueFull    *bool    `json:"drop_on_queue_full"`
		MaxQueueSize       *int     `json:"max_queue_size"`
		BatchTimeout       *float64 `json:"batch_timeout"`
		InactiveTimeout    *float64 `json:"inactive_timeout"`
		MaxExportBatchSize *int     `json:"max_export_batch_size"`
	} `json:"batch_span_processor"`
	SetNgxVar bool `json:"set_ngx_var"`
}

// Defaults of opentelemetry-lua's batch span processor, which APISIX uses when
// batch_span_processor leaves a field out.
const (
	defaultMaxQueueSize       = 2048
	defaultBatchTimeout       = 5 * time.Second
	defaultInactiveTimeout    = 2 * time.Second
	defaultMaxExportBatchSize = 256
	defaultRequestTimeout     = 3 * time.Second
	defaultAddress            = "127.0.0.1:4318"
	// shutdownTimeout bounds flushing a provider's queue when it is retired or the node stops:
	// a dead collector must not hold up a reload or a shutdown.
	shutdownTimeout = 5 * time.Second
	// scopeName is the instrumentation scope APISIX's spans carry, so collector-side
	// dashboards and filters written for APISIX keep matching.
	scopeName = "opentelemetry-lua"
)

// tracers is the node-wide state Definition.Start returns: one TracerProvider (exporter,
// batch queue) per distinct tracer configuration, shared by every instance built with it.
// Instances hold a reference; the last one to go shuts the provider down, so a metadata
// change swaps exporters without dropping what the old one had queued.
type tracers struct {
	attr     json.RawMessage // plugin_attr.opentelemetry from config.yaml; nil when absent
	hostname string
	log      *slog.Logger

	mu     sync.Mutex
	byConf map[string]*provider
	closed bool
	// retiring counts providers being shut down after their last instance went, so Close
	// waits for their flush too.
	retiring sync.WaitGroup
}

// provider is one TracerProvider and what a request needs from its configuration.
type provider struct {
	owner  *tracers
	key    string
	refs   int
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	// traceIDFromRequestID: trace_id_source is x-request-id.
	traceIDFromRequestID bool
	setVar               bool
}

func startTracers(node plugin.Node) (plugin.Shared, error) {
	t := &tracers{byConf: map[string]*provider{}, log: node.Logger(), hostname: node.Hostname()}
	if t.log == nil {
		t.log = slog.Default()
	}
	if raw := node.Config("plugin_attr.opentelemetry"); len(raw) > 0 && string(raw) != "null" {
		var c tracerConf
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("plugin_attr.opentelemetry: %w", err)
		}
		t.attr = raw
	}
	return t, nil
}

// acquire returns the provider for a tracer configuration (metadata JSON; nil means the
// node's plugin_attr, or the schema defaults), building it on first use.
func (t *tracers) acquire(meta json.RawMessage) (*provider, error) {
	raw := meta
	if raw == nil {
		raw = t.attr
	}
	key := string(raw)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("opentelemetry: node is stopping")
	}
	if p := t.byConf[key]; p != nil {
		p.refs++
		return p, nil
	}
	var c tracerConf
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("opentelemetry tracer config: %w", err)
		}
	}
	p, err := t.build(&c)
	if err != nil {
		return nil, err
	}
	p.key, p.refs, p.owner = key, 1, t
	t.byConf[key] = p
	return p, nil
}

// release drops one reference; the last one shuts the provider down in the background
// (flushing its queue within shutdownTimeout).
func (p *provider) release() {
	t := p.owner
	t.mu.Lock()
	p.refs--
	last := p.refs == 0 && !t.closed
	if last {
		delete(t.byConf, p.key)
		t.retiring.Go(p.shutdown)
	}
	t.mu.Unlock()
}

func (p *provider) shutdown() {
	defer func() {
		if r := recover(); r != nil {
			p.owner.log.Error("opentelemetry: provider shutdown panicked", "panic", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := p.tp.Shutdown(ctx); err != nil {
		p.owner.log.Warn("opentelemetry: spans dropped at shutdown", "error", err)
	}
}

// Close shuts every provider down in parallel, each bounded by shutdownTimeout.
func (t *tracers) Close() error {
	t.mu.Lock()
	t.closed = true
	ps := make([]*provider, 0, len(t.byConf))
	for _, p := range t.byConf {
		ps = append(ps, p)
	}
	clear(t.byConf)
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(p.shutdown)
	}
	wg.Wait()
	t.retiring.Wait()
	return nil
}

func (t *tracers) build(c *tracerConf) (*provider, error) {
	endpoint, err := collectorURL(c)
	if err != nil {
		return nil, err
	}
	timeout := defaultRequestTimeout
	if c.Collector != nil && c.Collector.RequestTimeout != nil && *c.Collector.RequestTimeout > 0 {
		timeout = seconds(*c.Collector.RequestTimeout)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(timeout),
		// One attempt per batch as opentelemetry-lua makes; retrying with backoff would keep
		// a dead collector's batches (and a shutdown) waiting for up to a minute.
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
	}
	if c.Collector != nil && len(c.Collector.RequestHeaders) > 0 {
		h := make(map[string]string, len(c.Collector.RequestHeaders))
		for k, v := range c.Collector.RequestHeaders {
			h[k] = scalarString(v)
		}
		opts = append(opts, otlptracehttp.WithHeaders(h))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("opentelemetry collector %s: %w", endpoint, err)
	}

	b := &c.BatchSpanProcessor
	queue, batch := defaultMaxQueueSize, defaultMaxExportBatchSize
	if b.MaxQueueSize != nil && *b.MaxQueueSize > 0 {
		queue = *b.MaxQueueSize
	}
	if b.MaxExportBatchSize != nil && *b.MaxExportBatchSize > 0 {
		batch = *b.MaxExportBatchSize
	}
	// opentelemetry-lua exports a partial batch once it is batch_timeout old or no span came
	// for inactive_timeout; the Go processor has one timer, so the shorter of the two bounds
	// how long a span waits.
	delay := defaultBatchTimeout
	if b.BatchTimeout != nil && *b.BatchTimeout > 0 {
		delay = seconds(*b.BatchTimeout)
	}
	inactive := defaultInactiveTimeout
	if b.InactiveTimeout != nil && *b.InactiveTimeout > 0 {
		inactive = seconds(*b.InactiveTimeout)
	}
	delay = min(delay, inactive)
	// drop_on_queue_full: false is not honoured by blocking: the log phase must never wait
	// for a collector, so a full queue always drops (the processor counts what it dropped).
	bsp := sdktrace.NewBatchSpanProcessor(&loggingExporter{SpanExporter: exp, log: t.log, endpoint: endpoint},
		sdktrace.WithMaxQueueSize(queue),
		sdktrace.WithMaxExportBatchSize(batch),
		sdktrace.WithBatchTimeout(delay),
		sdktrace.WithExportTimeout(timeout))

	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(bsp),
		sdktrace.WithSampler(confSampler{}),
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithResource(t.resource(c)),
	)
	return &provider{
		tp:                   tp,
		tracer:               tp.Tracer(scopeName),
		traceIDFromRequestID: c.TraceIDSource == "x-request-id",
		setVar:               c.SetNgxVar,
	}, nil
}

// collectorURL is where spans are POSTed: APISIX's address is host:port, sent to
// http://<address>/v1/traces; an address written as a URL keeps its scheme (and path).
func collectorURL(c *tracerConf) (string, error) {
	addr := defaultAddress
	if c.Collector != nil && c.Collector.Address != "" {
		addr = c.Collector.Address
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("opentelemetry collector.address %q is not host:port", addr)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// resource is the spans' resource: hostname always, service.name APISIX unless set, then
// the configured attributes with their JSON types.
func (t *tracers) resource(c *tracerConf) *resource.Resource {
	attrs := []attribute.KeyValue{attribute.String("hostname", t.hostname)}
	if _, ok := c.Resource["service.name"]; !ok {
		attrs = append(attrs, attribute.String("service.name", "APISIX"))
	}
	for k, v := range c.Resource {
		switch v := v.(type) {
		case string:
			attrs = append(attrs, attribute.String(k, v))
		case float64:
			attrs = append(attrs, attribute.Float64(k, v))
		case bool:
			attrs = append(attrs, attribute.Bool(k, v))
		}
	}
	return resource.NewSchemaless(attrs...)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// loggingExporter reports failed exports through the node's logger (at most one line per
// logEvery) instead of otel's global error handler, and never fails the processor.
type loggingExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
	lastLog  atomic.Int64
}

const logEvery = 10 * time.Second

func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		now := time.Now().UnixNano()
		if last := e.lastLog.Load(); now-last >= int64(logEvery) && e.lastLog.CompareAndSwap(last, now) {
			e.log.Error("opentelemetry: export to collector failed; spans dropped",
				"collector", e.endpoint, "spans", len(spans), "error", err)
		}
	}
	return nil
}

// requestKey carries a request's sampler and trace id choice to the provider's sampler and
// id generator, which are shared by every route's instance.
type requestKey struct{}

type requestParams struct {
	sampler    sdktrace.Sampler
	traceID    trace.TraceID
	hasTraceID bool
}

// confSampler applies the sampler of the instance that started the span (routes with one
// provider can still sample differently, as APISIX builds a tracer per route conf).
type confSampler struct{}

func (confSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if rp, ok := p.ParentContext.Value(requestKey{}).(*requestParams); ok && rp.sampler != nil {
		return rp.sampler.ShouldSample(p)
	}
	return sdktrace.NeverSample().ShouldSample(p)
}

func (confSampler) Description() string { return "APISIX route sampler" }

// idGenerator draws ids from the runtime's per-thread generator (no lock shared across
// requests) and takes the trace id from X-Request-Id when the instance says so.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	if rp, ok := ctx.Value(requestKey{}).(*requestParams); ok && rp.hasTraceID {
		tid = rp.traceID
	} else {
		for !tid.IsValid() {
			putUint64(tid[:8], mrand.Uint64())
			putUint64(tid[8:], mrand.Uint64())
		}
	}
	return tid, newSpanID()
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return newSpanID() }

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		putUint64(sid[:], mrand.Uint64())
	}
	return sid
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// newSampler compiles a conf's sampler as opentelemetry-lua's factories do.
func newSampler(s samplerConf) sdktrace.Sampler {
	switch s.Name {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "trace_id_ratio":
		return sdktrace.TraceIDRatioBased(s.Options.Fraction)
	case "parent_base":
		root := sdktrace.NeverSample()
		if r := s.Options.Root; r != nil {
			switch r.Name {
			case "always_on":
				root = sdktrace.AlwaysSample()
			case "trace_id_ratio":
				root = sdktrace.TraceIDRatioBased(r.Options.Fraction)
			}
		}
		return sdktrace.ParentBased(root)
	}
	return sdktrace.NeverSample()
}
