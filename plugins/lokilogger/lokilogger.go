// Package lokilogger registers APISIX's loki-logger plugin, which batches access-log entries and
// pushes them to Grafana Loki's push API (apisix/plugins/loki-logger.lua, reference/plugins.md §8).
package lokilogger

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/loki-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

const pluginName = "loki-logger"

func init() {
	plugin.Register(plugin.Definition{
		Name:           pluginName,
		Priority:       414,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"headers"},
		DefaultEnabled: true,
		New:            New,
	})
}

// conf is the loki-logger specific part of the conf (batch and entry fields are read by their
// packages).
type conf struct {
	EndpointAddrs    []string          `json:"endpoint_addrs"`
	EndpointURI      string            `json:"endpoint_uri"`
	TenantID         *string           `json:"tenant_id"`
	Headers          map[string]string `json:"headers"`
	LogLabels        map[string]string `json:"log_labels"`
	SSLVerify        bool              `json:"ssl_verify"`
	Timeout          int               `json:"timeout"` // ms
	Keepalive        *bool             `json:"keepalive"`
	KeepaliveTimeout int               `json:"keepalive_timeout"` // ms
	KeepalivePool    int               `json:"keepalive_pool"`
}

// label is one compiled log_labels entry.
type label struct {
	name    string
	literal string
	tpl     *vartemplate.Template // nil: the value has no variable
}

// item is what the log phase queues: the entry, its Loki timestamp and its stream labels.
type item struct {
	entry  *logentry.Entry
	ts     string
	labels []string // values in the instance's label order; shared when all labels are static
}

// Logger is one compiled loki-logger conf.
type Logger struct {
	builder *logentry.Builder
	proc    *batch.Processor[item]
	labels  []label
	static  []string // the label values when none has a variable
}

// BodyLogger is Logger for a conf with include_resp_body: only such instances run in
// body_filter.
type BodyLogger struct{ *Logger }

// New compiles one loki-logger conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	s, labels, err := newSender(raw)
	if err != nil {
		return nil, err
	}
	b, proc, err := logentry.AcquireBatch(raw, env, logentry.BatchedOptions{Plugin: pluginName,
		ProcessorName: "loki logger", Entry: logentry.Options{NoMatchRouteID: "no-matched"},
		OnStop: s.client.CloseIdleConnections}, s.send)
	if err != nil {
		return nil, err
	}
	l := &Logger{builder: b, proc: proc, labels: labels}
	if !slices.ContainsFunc(labels, func(lb label) bool { return lb.tpl != nil }) {
		l.static = make([]string, len(labels))
		for i, lb := range labels {
			l.static[i] = lb.literal
		}
	}
	if b.CapturesResponse() {
		return &BodyLogger{l}, nil
	}
	return l, nil
}

func (l *Logger) Access(c plugin.Ctx) { l.builder.Access(c) }

// Log queues the entry with its labels resolved now: the variables belong to this request.
func (l *Logger) Log(c plugin.Ctx) {
	it := item{entry: l.builder.Build(c), labels: l.static}
	// Loki wants nanoseconds; APISIX appends six zeros to the request start in ms.
	start := c.StartTime()
	if start.IsZero() {
		start = it.entry.Time
	}
	it.ts = strconv.FormatInt(start.UnixMilli(), 10) + "000000"
	if it.labels == nil {
		it.labels = l.resolveLabels(c)
	}
	l.proc.Push(it)
}

// resolveLabels renders the label values for one request. As resolve_var, a value is replaced
// only when at least one of its variables was found; otherwise the literal stays.
func (l *Logger) resolveLabels(c plugin.Vars) []string {
	out := make([]string, len(l.labels))
	for i, lb := range l.labels {
		out[i] = lb.literal
		if lb.tpl == nil {
			continue
		}
		if v, n := lb.tpl.Append(nil, c); n > 0 {
			out[i] = string(v)
		}
	}
	return out
}

func (l *Logger) Close() { l.proc.Release() }

func (l *BodyLogger) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return l.builder.BodyFilter(c, chunk, eof)
}

// sender pushes batches to one of the conf's endpoints.
type sender struct {
	urls    []string
	tenant  string
	headers [][2]string
	names   []string // label names, sorted, as the items' label values are ordered
	client  *http.Client
}

func newSender(raw json.RawMessage) (*sender, []label, error) {
	c := conf{EndpointURI: "/loki/api/v1/push", Timeout: 3000, KeepaliveTimeout: 60000, KeepalivePool: 5}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("loki-logger conf: %w", err)
	}
	if len(c.EndpointAddrs) == 0 {
		return nil, nil, fmt.Errorf("loki-logger: endpoint_addrs is required")
	}
	if c.LogLabels == nil {
		c.LogLabels = map[string]string{"job": "apisix"}
	}
	s := &sender{tenant: "fake"}
	if c.TenantID != nil {
		s.tenant = *c.TenantID
	}
	for _, a := range c.EndpointAddrs {
		s.urls = append(s.urls, a+c.EndpointURI)
	}
	for _, k := range slices.Sorted(mapKeys(c.Headers)) {
		s.headers = append(s.headers, [2]string{k, c.Headers[k]})
	}
	s.names = slices.Sorted(mapKeys(c.LogLabels))
	labels := make([]label, len(s.names))
	for i, k := range s.names {
		labels[i] = label{name: k, literal: c.LogLabels[k]}
		if t := vartemplate.Compile(c.LogLabels[k]); !isStatic(t) {
			labels[i].tpl = t
		}
	}
	timeout := time.Duration(max(c.Timeout, 1)) * time.Millisecond
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: !c.SSLVerify},
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: max(c.KeepalivePool, 1),
		IdleConnTimeout:     time.Duration(c.KeepaliveTimeout) * time.Millisecond,
		DisableKeepAlives:   c.Keepalive != nil && !*c.Keepalive,
	}
	s.client = &http.Client{Timeout: timeout, Transport: tr,
		// lua-resty-http does not follow redirects: a 3xx is the server's answer (a failure).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s, labels, nil
}

func isStatic(t *vartemplate.Template) bool { _, ok := t.Static(); return ok }

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// body encodes Loki's push request, one stream per distinct label set in order of first
// appearance: {"streams":[{"stream":{labels},"values":[["<ns>","<entry json>"],...]},...]}.
func (s *sender) body(items []item) []byte {
	type stream struct {
		labels []string
		idx    []int
	}
	var streams []stream
next:
	for i, it := range items {
		for j := range streams {
			if slices.Equal(streams[j].labels, it.labels) {
				streams[j].idx = append(streams[j].idx, i)
				continue next
			}
		}
		streams = append(streams, stream{labels: it.labels, idx: []int{i}})
	}
	out := append(make([]byte, 0, 512*len(items)), `{"streams":[`...)
	var line []byte
	for si, st := range streams {
		if si > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"stream":{`...)
		for k, name := range s.names {
			if k > 0 {
				out = append(out, ',')
			}
			out = logentry.AppendString(out, name)
			out = append(out, ':')
			out = logentry.AppendString(out, st.labels[k])
		}
		out = append(out, `},"values":[`...)
		for vi, i := range st.idx {
			if vi > 0 {
				out = append(out, ',')
			}
			out = append(out, `["`...)
			out = append(out, items[i].ts...)
			out = append(out, `",`...)
			line = items[i].entry.AppendJSON(line[:0])
			out = logentry.AppendString(out, string(line))
			out = append(out, ']')
		}
		out = append(out, "]}"...)
	}
	return append(out, "]}"...)
}

func (s *sender) send(ctx context.Context, items []item) error {
	url := s.urls[0]
	if len(s.urls) > 1 {
		url = s.urls[rand.IntN(len(s.urls))]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(s.body(items)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Scope-OrgID", s.tenant)
	for _, h := range s.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("loki server returned status: %d, body: %s", resp.StatusCode, body)
	}
	return nil
}

var (
	_ plugin.Logger       = (*Logger)(nil)
	_ plugin.Accessor     = (*Logger)(nil)
	_ plugin.Closer       = (*Logger)(nil)
	_ plugin.BodyFilterer = (*BodyLogger)(nil)
)
