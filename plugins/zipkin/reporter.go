package zipkin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The batch processor's settings are APISIX's (zipkin_report): up to 1000 spans a POST, sent
// once no span came for 5 s or the oldest waited 60 s; no retry.
const (
	batchMaxSize    = 1000
	inactiveTimeout = 5 * time.Second
	bufferDuration  = 60 * time.Second
	// queueSize bounds the spans waiting for the reporter goroutine: when a collector is slow
	// or gone, spans beyond it are dropped rather than held or waited for.
	queueSize   = 10000
	postTimeout = 10 * time.Second
	// closeTimeout bounds the final flush when an instance is retired or the node stops.
	closeTimeout = 5 * time.Second
	logEvery     = 10 * time.Second
)

// span is one finished span as the request path hands it over; it is encoded to Zipkin v2
// JSON in the reporter goroutine, off the request path.
type span struct {
	traceID  string // hex, 16 or 32 digits
	id       uint64
	parentID uint64 // 0: none
	name     string
	server   bool // kind SERVER, with the request's tags and remote endpoint
	start    time.Time
	duration time.Duration

	// Set on the server span only.
	method, url, peerIP, source string
	peerPort, status            int

	localIP   string
	localPort int
}

type endpointJSON struct {
	ServiceName string `json:"serviceName,omitempty"`
	IPv4        string `json:"ipv4,omitempty"`
	Port        int    `json:"port,omitempty"`
}

type spanJSON struct {
	TraceID        string            `json:"traceId"`
	Name           string            `json:"name"`
	ParentID       string            `json:"parentId,omitempty"`
	ID             string            `json:"id"`
	Kind           string            `json:"kind,omitempty"`
	Timestamp      int64             `json:"timestamp"`
	Duration       int64             `json:"duration"`
	LocalEndpoint  endpointJSON      `json:"localEndpoint"`
	RemoteEndpoint *endpointJSON     `json:"remoteEndpoint"`
	Tags           map[string]string `json:"tags"`
}

func spanIDHex(id uint64) string {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte(id)
		id >>= 8
	}
	return hex.EncodeToString(b[:])
}

func (s *span) json(serviceName string) spanJSON {
	out := spanJSON{
		TraceID:   s.traceID,
		Name:      s.name,
		ID:        spanIDHex(s.id),
		Timestamp: s.start.UnixMicro(),
		Duration:  s.duration.Microseconds(),
		LocalEndpoint: endpointJSON{ServiceName: serviceName, IPv4: s.localIP,
			Port: s.localPort},
		Tags: map[string]string{},
	}
	if s.parentID != 0 {
		out.ParentID = spanIDHex(s.parentID)
	}
	if s.server {
		out.Kind = "SERVER"
		out.RemoteEndpoint = &endpointJSON{IPv4: s.peerIP, Port: s.peerPort}
		out.Tags["component"] = "apisix"
		out.Tags["http.method"] = s.method
		out.Tags["http.url"] = s.url
		if s.status != 0 {
			out.Tags["http.status_code"] = strconv.Itoa(s.status)
		}
		if s.source != "" {
			out.Tags["apisix.response_source"] = s.source
		}
	}
	return out
}

// reporter batches one instance's spans and POSTs them to its endpoint. Its goroutine starts
// with the first span, so instances that never see a sampled request (and Admin API
// validation) cost nothing.
type reporter struct {
	endpoint    string
	serviceName string
	log         *slog.Logger
	client      *http.Client

	once    sync.Once
	started atomic.Bool
	queue   chan *span
	stop    chan struct{}
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool

	dropMu      sync.Mutex
	dropped     int
	lastDropLog time.Time
}

func newReporter(endpoint, serviceName string, log *slog.Logger) *reporter {
	return &reporter{
		endpoint: endpoint, serviceName: serviceName, log: log,
		client: &http.Client{Timeout: postTimeout, Transport: &http.Transport{
			MaxIdleConnsPerHost: 5, IdleConnTimeout: 5 * time.Second,
		}},
		queue: make(chan *span, queueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// report hands a finished span over without ever waiting.
func (r *reporter) report(s *span) {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return
	}
	r.once.Do(func() {
		r.started.Store(true)
		go r.run()
	})
	select {
	case r.queue <- s:
	default:
		r.dropMu.Lock()
		r.dropped++
		if time.Since(r.lastDropLog) >= logEvery {
			r.log.Warn("zipkin: report queue full; spans dropped", "endpoint", r.endpoint, "dropped", r.dropped)
			r.lastDropLog, r.dropped = time.Now(), 0
		}
		r.dropMu.Unlock()
	}
}

// close flushes what is queued (bounded by closeTimeout) and stops the goroutine.
func (r *reporter) close() {
	r.closeMu.Lock()
	if r.closed {
		r.closeMu.Unlock()
		return
	}
	r.closed = true
	r.closeMu.Unlock()
	// closed is set under the write lock, so no report is starting the goroutine now.
	if r.started.Load() {
		close(r.stop)
		select {
		case <-r.done:
		case <-time.After(closeTimeout + time.Second):
		}
	}
	r.client.CloseIdleConnections()
}

func (r *reporter) run() {
	defer close(r.done)
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("zipkin: reporter panicked", "panic", p)
		}
	}()
	var batch []*span
	// inactive fires when no span came for inactiveTimeout, age when the batch's oldest span
	// has waited bufferDuration; both are armed only while the batch holds spans.
	inactive, age := time.NewTimer(time.Hour), time.NewTimer(time.Hour)
	inactive.Stop()
	age.Stop()
	flush := func(ctx context.Context) {
		inactive.Stop()
		age.Stop()
		if len(batch) > 0 {
			r.post(ctx, batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case s := <-r.queue:
			if len(batch) == 0 {
				age.Reset(bufferDuration)
			}
			batch = append(batch, s)
			if len(batch) >= batchMaxSize {
				flush(context.Background())
				continue
			}
			inactive.Reset(inactiveTimeout)
		case <-inactive.C:
			flush(context.Background())
		case <-age.C:
			flush(context.Background())
		case <-r.stop:
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			for {
				select {
				case s := <-r.queue:
					batch = append(batch, s)
					if len(batch) >= batchMaxSize {
						flush(ctx)
					}
					continue
				default:
				}
				break
			}
			flush(ctx)
			cancel()
			return
		}
	}
}

func (r *reporter) post(ctx context.Context, batch []*span) {
	out := make([]spanJSON, len(batch))
	for i, s := range batch {
		out[i] = s.json(r.serviceName)
	}
	body, err := json.Marshal(out)
	if err != nil {
		r.log.Error("zipkin: encode spans", "error", err)
		return
	}
	if err := r.send(ctx, body); err != nil {
		r.log.Error("zipkin: report spans failed; dropped", "endpoint", r.endpoint, "spans", len(batch), "error", err)
	}
}

func (r *reporter) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("collector answered %s", resp.Status)
	}
	return nil
}
