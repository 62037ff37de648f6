// Package elasticsearchlogger registers APISIX's elasticsearch-logger plugin, which batches
// access-log entries and indexes them into Elasticsearch through the _bulk API
// (apisix/plugins/elasticsearch-logger.lua, reference/plugins.md §8).
package elasticsearchlogger

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/elasticsearch-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

const pluginName = "elasticsearch-logger"

func init() {
	plugin.Register(plugin.Definition{
		Name:           pluginName,
		Priority:       413,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"auth.password", "headers"},
		DefaultEnabled: true,
		New:            New,
	})
}

// conf is the elasticsearch-logger specific part of the conf (batch and entry fields are read
// by their packages).
type conf struct {
	EndpointAddr  string   `json:"endpoint_addr"`
	EndpointAddrs []string `json:"endpoint_addrs"`
	Field         struct {
		Index string `json:"index"`
	} `json:"field"`
	Auth *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"auth"`
	Headers   map[string]string `json:"headers"`
	Timeout   int               `json:"timeout"` // seconds
	SSLVerify *bool             `json:"ssl_verify"`
}

// item is what the log phase queues: the entry and the index it was resolved to.
type item struct {
	entry *logentry.Entry
	index string
}

// Logger is one compiled elasticsearch-logger conf.
type Logger struct {
	builder *logentry.Builder
	proc    *batch.Processor[item]
	index   *indexTemplate
}

// BodyLogger is Logger for a conf with include_resp_body: only such instances run in
// body_filter.
type BodyLogger struct{ *Logger }

// New compiles one elasticsearch-logger conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	s, index, err := newSender(raw, env.Logger)
	if err != nil {
		return nil, err
	}
	b, proc, err := logentry.AcquireBatch(raw, env, logentry.BatchedOptions{Plugin: pluginName,
		ProcessorName: "elasticsearch-logger", OnStop: s.client.CloseIdleConnections}, s.send)
	if err != nil {
		return nil, err
	}
	l := &Logger{builder: b, proc: proc, index: index}
	if b.CapturesResponse() {
		return &BodyLogger{l}, nil
	}
	return l, nil
}

// Access reads the request body when the entry needs it. APISIX also probes the server's
// version here, blocking the request; Sluice probes on the batch goroutine before the first
// bulk request instead, which builds the action lines then, so the result is the same.
func (l *Logger) Access(c plugin.Ctx) { l.builder.Access(c) }

// Log queues the entry with its index resolved now: the variables and the date are this
// request's.
func (l *Logger) Log(c plugin.Ctx) {
	e := l.builder.Build(c)
	l.proc.Push(item{entry: e, index: l.index.resolve(c, e.Time)})
}

func (l *Logger) Close() { l.proc.Release() }

func (l *BodyLogger) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return l.builder.BodyFilter(c, chunk, eof)
}

// sender posts batches to <endpoint>/_bulk.
type sender struct {
	endpoints []string
	auth      string // "Basic ..." or ""
	headers   [][2]string
	client    *http.Client
	log       *slog.Logger

	// major is the server's major version once a probe succeeded; only the batch goroutine
	// uses it, the mutex is for the odd instance sharing a sender in tests.
	mu    sync.Mutex
	major string
}

func newSender(raw json.RawMessage, log *slog.Logger) (*sender, *indexTemplate, error) {
	c := conf{Timeout: 10}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, fmt.Errorf("elasticsearch-logger conf: %w", err)
	}
	s := &sender{endpoints: c.EndpointAddrs, log: log}
	if c.EndpointAddr != "" {
		s.endpoints = []string{c.EndpointAddr} // the deprecated field wins, as APISIX
	}
	if len(s.endpoints) == 0 {
		return nil, nil, errors.New("elasticsearch-logger: endpoint_addrs is required")
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if c.Auth != nil {
		s.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Auth.Username+":"+c.Auth.Password))
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range c.Headers {
			if !yield(k) {
				return
			}
		}
	}) {
		s.headers = append(s.headers, [2]string{k, c.Headers[k]})
	}
	verify := c.SSLVerify == nil || *c.SSLVerify
	timeout := time.Duration(max(c.Timeout, 1)) * time.Second
	s.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: !verify},
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     60 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, compileIndex(c.Field.Index), nil
}

func (s *sender) pick() string {
	if len(s.endpoints) == 1 {
		return s.endpoints[0]
	}
	return s.endpoints[rand.IntN(len(s.endpoints))]
}

func (s *sender) setHeaders(h http.Header) {
	if s.auth != "" {
		h.Set("Authorization", s.auth)
	}
	for _, kv := range s.headers {
		h.Set(kv[0], kv[1])
	}
}

// version returns the server's major version, probing GET <endpoint> until one answer gives
// it; a failed probe is logged and the batch goes out without it, as APISIX.
func (s *sender) version(ctx context.Context) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.major != "" {
		return s.major
	}
	major, err := s.probe(ctx, s.pick())
	if err != nil {
		s.log.Error("failed to get Elasticsearch version: " + err.Error())
		return ""
	}
	s.major = major
	return major
}

func (s *sender) probe(ctx context.Context, endpoint string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	s.setHeaders(req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("server returned status: %d, body: %s", resp.StatusCode, body)
	}
	var info struct {
		Version *struct {
			Number *string `json:"number"`
		} `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("failed to decode response body: %v", err)
	}
	if info.Version == nil || info.Version.Number == nil {
		return "", errors.New("failed to get version from response body")
	}
	num := *info.Version.Number
	major, _, ok := strings.Cut(num, ".")
	if !ok || major == "" || strings.Trim(major, "0123456789") != "" {
		return "", fmt.Errorf("invalid version format: %s", num)
	}
	return major, nil
}

// body is the bulk request: per entry an action line and the document line, each ending in
// "\n". Elasticsearch 5 and 6 still need a mapping type.
func body(items []item, major string) []byte {
	out := make([]byte, 0, 600*len(items))
	typed := major == "5" || major == "6"
	var line []byte
	for _, it := range items {
		out = append(out, `{"index":{"_index":`...)
		out = logentry.AppendString(out, it.index)
		if typed {
			out = append(out, `,"_type":"_doc"`...)
		}
		out = append(out, "}}\n"...)
		line = it.entry.AppendJSON(line[:0])
		out = append(out, line...)
		out = append(out, '\n')
	}
	return out
}

func (s *sender) send(ctx context.Context, items []item) error {
	major := s.version(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.pick()+"/_bulk", bytes.NewReader(body(items, major)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/vnd.elasticsearch+json")
	s.setHeaders(req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("elasticsearch server returned status: %d, body: %s", resp.StatusCode, rb)
	}
	return nil
}

var (
	_ plugin.Logger       = (*Logger)(nil)
	_ plugin.Accessor     = (*Logger)(nil)
	_ plugin.Closer       = (*Logger)(nil)
	_ plugin.BodyFilterer = (*BodyLogger)(nil)
)
