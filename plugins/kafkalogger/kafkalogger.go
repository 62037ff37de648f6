// Package kafkalogger registers APISIX's kafka-logger plugin, which batches access-log entries and
// produces them to a Kafka topic (apisix/plugins/kafka-logger.lua, reference/plugins.md §8).
// The producer is franz-go; one client serves every conf with the same brokers and producer
// settings.
package kafkalogger

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/kafka-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

const pluginName = "kafka-logger"

func init() {
	plugin.Register(plugin.Definition{
		Name:           pluginName,
		Priority:       403,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"brokers.sasl_config.password"},
		DefaultEnabled: true,
		New:            New,
	})
}

// conf is the kafka-logger specific part of the conf (batch and entry fields are read by
// their packages).
type conf struct {
	MetaFormat      string         `json:"meta_format"`
	BrokerList      map[string]int `json:"broker_list"`
	Brokers         []broker       `json:"brokers"`
	KafkaTopic      string         `json:"kafka_topic"`
	ProducerType    string         `json:"producer_type"`
	RequiredAcks    int            `json:"required_acks"`
	Key             *string        `json:"key"`
	Timeout         int            `json:"timeout"`
	IncludeReqBody  bool           `json:"include_req_body"`
	MaxReqBodyBytes int            `json:"max_req_body_bytes"`
	TLS             *struct {
		Verify bool `json:"verify"`
	} `json:"tls"`
	ClusterName          int `json:"cluster_name"`
	ProducerBatchNum     int `json:"producer_batch_num"`
	ProducerBatchSize    int `json:"producer_batch_size"`
	ProducerMaxBuffering int `json:"producer_max_buffering"`
	ProducerTimeLinger   int `json:"producer_time_linger"`
	MetaRefreshInterval  int `json:"meta_refresh_interval"`
}

// item is what the log phase queues: the entry, or with meta_format origin the raw request.
type item struct {
	entry  *logentry.Entry
	origin string
}

// Logger is one compiled kafka-logger conf.
type Logger struct {
	builder *logentry.Builder
	proc    *batch.Processor[item]
	origin  bool
	reqBody bool // origin: append the request body
	reqMax  int
}

// BodyLogger is Logger for a conf with include_resp_body: only such instances run in
// body_filter.
type BodyLogger struct{ *Logger }

// New compiles one kafka-logger conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c, pc, err := parse(raw)
	if err != nil {
		return nil, err
	}
	// the sender needs batch_max_size before the processor exists (AcquireBatch parses it again)
	cfg, err := batch.ParseConfig(raw, "kafka logger")
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &sender{pc: pc, topic: c.KafkaTopic, single: cfg.BatchMaxSize == 1, log: log}
	if c.Key != nil {
		s.key = []byte(*c.Key)
	}
	b, proc, err := logentry.AcquireBatch(raw, env, logentry.BatchedOptions{Plugin: pluginName,
		ProcessorName: "kafka logger", OnStop: s.stop}, s.send)
	if err != nil {
		return nil, err
	}
	l := &Logger{builder: b, proc: proc, origin: c.MetaFormat == "origin", reqBody: c.IncludeReqBody,
		reqMax: max(c.MaxReqBodyBytes, 1)}
	if b.CapturesResponse() {
		return &BodyLogger{l}, nil
	}
	return l, nil
}

// parse reads the conf with APISIX's defaults and derives the producer settings.
func parse(raw json.RawMessage) (conf, producerConf, error) {
	c := conf{MetaFormat: "default", ProducerType: "async", RequiredAcks: 1, Timeout: 3,
		MaxReqBodyBytes: 524288, ClusterName: 1, ProducerBatchNum: 200, ProducerBatchSize: 1048576,
		ProducerMaxBuffering: 50000, ProducerTimeLinger: 1, MetaRefreshInterval: 30}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, producerConf{}, fmt.Errorf("kafka-logger conf: %w", err)
	}
	if c.KafkaTopic == "" {
		return c, producerConf{}, errors.New("kafka-logger: kafka_topic is required")
	}
	brokers := slices.Clone(c.Brokers)
	// broker_list is an object: its order is not defined, so sort for a stable producer key.
	for _, h := range slices.Sorted(func(yield func(string) bool) {
		for h := range c.BrokerList {
			if !yield(h) {
				return
			}
		}
	}) {
		brokers = append(brokers, broker{Host: h, Port: c.BrokerList[h]})
	}
	if len(brokers) == 0 {
		return c, producerConf{}, errors.New("kafka-logger: brokers is required")
	}
	for i := range brokers {
		if sc := brokers[i].SASLConfig; sc != nil && sc.Mechanism == "" {
			cp := *sc
			cp.Mechanism = "PLAIN"
			brokers[i].SASLConfig = &cp
		}
	}
	pc := producerConf{Brokers: brokers, Sync: c.ProducerType == "sync", RequiredAcks: c.RequiredAcks,
		Timeout: c.Timeout, BatchNum: c.ProducerBatchNum, BatchSize: c.ProducerBatchSize,
		MaxBuffering: c.ProducerMaxBuffering, Linger: c.ProducerTimeLinger,
		RefreshPeriod: c.MetaRefreshInterval, ClusterName: c.ClusterName}
	if c.TLS != nil {
		pc.TLS, pc.TLSVerify = true, c.TLS.Verify
	}
	return c, pc, nil
}

// Access reads the request body when the entry (or the origin text) includes it.
func (l *Logger) Access(c plugin.Ctx) {
	if l.origin && l.reqBody {
		_, _ = c.Body() // an error leaves the body out; the request goes on
		return
	}
	l.builder.Access(c)
}

func (l *Logger) Log(c plugin.Ctx) {
	if l.origin {
		l.proc.Push(item{origin: l.originText(c)})
		return
	}
	l.proc.Push(item{entry: l.builder.Build(c)})
}

func (l *Logger) Close() { l.proc.Release() }

func (l *BodyLogger) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	return l.builder.BodyFilter(c, chunk, eof)
}

var (
	varRequestURI = plugin.ParseVar("request_uri")
	varProtocol   = plugin.ParseVar("server_protocol")
)

// originText is log-util's get_req_original: the request line, the headers as
// "name: value\r\n", a blank line, then the body (up to max_req_body_bytes) with
// include_req_body.
func (l *Logger) originText(c plugin.Ctx) string {
	b := make([]byte, 0, 512)
	b = append(b, c.Method()...)
	b = append(b, ' ')
	uri, _ := c.Lookup(&varRequestURI)
	b = append(b, uri...)
	b = append(b, ' ')
	proto, ok := c.Lookup(&varProtocol)
	if !ok {
		proto = []byte("HTTP/1.1")
	}
	b = append(b, proto...)
	b = append(b, "\r\n"...)
	c.VisitHeaders(func(name, value []byte) {
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, value...)
		b = append(b, "\r\n"...)
	})
	b = append(b, "\r\n"...)
	if l.reqBody {
		if body, err := c.Body(); err == nil {
			b = append(b, body[:min(len(body), l.reqMax)]...)
		}
	}
	return string(b)
}

// sender produces batches; it takes its producer on the first batch (on the processor's
// goroutine) and gives it back when the processor stops.
type sender struct {
	pc     producerConf
	topic  string
	key    []byte
	single bool
	log    *slog.Logger
	prod   *producer
}

// value is the message for a batch: with batch_max_size 1 the entry (or the raw request
// text) itself, else a JSON array.
func (s *sender) value(items []item) []byte {
	if s.single && len(items) == 1 {
		if items[0].entry == nil {
			return []byte(items[0].origin)
		}
		return items[0].entry.AppendJSON(nil)
	}
	out := []byte{'['}
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		if it.entry != nil {
			out = it.entry.AppendJSON(out)
		} else {
			out = logentry.AppendString(out, it.origin)
		}
	}
	return append(out, ']')
}

func (s *sender) send(ctx context.Context, items []item) error {
	if s.prod == nil {
		p, err := acquireProducer(s.pc, s.log)
		if err != nil {
			return err
		}
		s.prod = p
	}
	if err := s.prod.produce(ctx, s.topic, s.key, s.value(items)); err != nil {
		brokers, _ := json.Marshal(s.pc.Brokers)
		return fmt.Errorf("failed to send data to Kafka topic: %v, brokers: %s", err, redact(brokers))
	}
	return nil
}

func (s *sender) stop() {
	if s.prod != nil {
		s.prod.release()
		s.prod = nil
	}
}

// redact drops SASL passwords from the brokers JSON put in error messages.
func redact(brokersJSON []byte) string {
	var bs []broker
	if json.Unmarshal(brokersJSON, &bs) != nil {
		return string(brokersJSON)
	}
	for i := range bs {
		if bs[i].SASLConfig != nil {
			cp := *bs[i].SASLConfig
			cp.Password = "******"
			bs[i].SASLConfig = &cp
		}
	}
	out, _ := json.Marshal(bs)
	return string(out)
}

var (
	_ plugin.Logger       = (*Logger)(nil)
	_ plugin.Accessor     = (*Logger)(nil)
	_ plugin.Closer       = (*Logger)(nil)
	_ plugin.BodyFilterer = (*BodyLogger)(nil)
)
