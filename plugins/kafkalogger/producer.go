package kafkalogger

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// broker is one entry of brokers (broker_list entries are converted to it).
type broker struct {
	Host       string      `json:"host"`
	Port       int         `json:"port"`
	SASLConfig *saslConfig `json:"sasl_config,omitempty"`
}

type saslConfig struct {
	Mechanism string `json:"mechanism"`
	User      string `json:"user"`
	Password  string `json:"password"`
}

// producerConf is everything a producer client depends on; its JSON is the sharing key, as
// APISIX caches producers by (broker_list, broker_config, cluster_name).
type producerConf struct {
	Brokers       []broker `json:"brokers"`
	TLS           bool     `json:"tls"`
	TLSVerify     bool     `json:"tls_verify"`
	Sync          bool     `json:"sync"`
	RequiredAcks  int      `json:"required_acks"`
	Timeout       int      `json:"timeout"` // seconds
	BatchNum      int      `json:"batch_num"`
	BatchSize     int      `json:"batch_size"`
	MaxBuffering  int      `json:"max_buffering"`
	Linger        int      `json:"linger"`           // seconds
	RefreshPeriod int      `json:"refresh_interval"` // seconds
	ClusterName   int      `json:"cluster_name"`
}

// producer is one franz-go client shared by every processor whose conf has the same
// producerConf; the last release closes it.
type producer struct {
	key    string
	conf   producerConf
	client *kgo.Client
	refs   int // under producersMu
	log    *slog.Logger

	sinceFlush atomic.Int64
	flushKick  chan struct{}
	done       chan struct{}
	lastErrLog atomic.Int64
}

// The producer registry is deliberately shared state: clients are expensive (connections,
// metadata goroutines) and APISIX shares one per broker settings. It is locked only when a
// batch processor starts sending or stops, never on the request path.
var (
	producersMu sync.Mutex
	producers   = map[string]*producer{}
)

// acquireProducer returns the client for pc, creating it on first use.
func acquireProducer(pc producerConf, log *slog.Logger) (*producer, error) {
	if log == nil {
		log = slog.Default()
	}
	kb, _ := json.Marshal(pc)
	key := string(kb)
	producersMu.Lock()
	defer producersMu.Unlock()
	if p := producers[key]; p != nil {
		p.refs++
		return p, nil
	}
	cl, err := kgo.NewClient(clientOpts(pc)...)
	if err != nil {
		return nil, fmt.Errorf("failed to create kafka producer: %w", err)
	}
	p := &producer{key: key, conf: pc, client: cl, refs: 1, log: log,
		flushKick: make(chan struct{}, 1), done: make(chan struct{})}
	producers[key] = p
	if !pc.Sync {
		go p.flusher()
	}
	return p, nil
}

func clientOpts(pc producerConf) []kgo.Opt {
	timeout := time.Duration(max(pc.Timeout, 1)) * time.Second
	seeds := make([]string, len(pc.Brokers))
	for i, b := range pc.Brokers {
		seeds[i] = net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	}
	acks := kgo.LeaderAck()
	switch pc.RequiredAcks {
	case -1:
		acks = kgo.AllISRAcks()
	case 0:
		acks = kgo.NoAck()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.RequiredAcks(acks),
		// lua-resty-kafka is not an idempotent producer: no InitProducerID, any acks.
		kgo.DisableIdempotentWrite(),
		kgo.DialTimeout(timeout),
		kgo.RequestTimeoutOverhead(timeout),
		kgo.ProduceRequestTimeout(timeout),
		// A record that cannot be delivered within the timeout fails (and is logged) rather
		// than holding buffer space forever while a broker is down.
		kgo.RecordDeliveryTimeout(timeout),
		kgo.MetadataMaxAge(time.Duration(max(pc.RefreshPeriod, 1)) * time.Second),
		kgo.MaxBufferedRecords(max(pc.MaxBuffering, 1)),
		// franz-go refuses a record larger than a batch, where lua-resty-kafka would send it
		// alone: producer_batch_size below 1 MiB therefore does not shrink batches.
		kgo.ProducerBatchMaxBytes(int32(min(max(pc.BatchSize, 1<<20), 1<<30))),
		kgo.AllowAutoTopicCreation(),
		kgo.ClientID("apisix"),
	}
	if pc.Sync {
		opts = append(opts, kgo.ProducerLinger(0))
	} else {
		opts = append(opts, kgo.ProducerLinger(time.Duration(max(pc.Linger, 1))*time.Second))
	}
	if pc.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: !pc.TLSVerify}))
	}
	// franz-go authenticates a client with one mechanism: the first broker's sasl_config.
	for _, b := range pc.Brokers {
		if b.SASLConfig != nil {
			opts = append(opts, kgo.SASL(mechanism(*b.SASLConfig)))
			break
		}
	}
	return opts
}

func mechanism(c saslConfig) sasl.Mechanism {
	switch c.Mechanism {
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()
	default:
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism()
	}
}

// release gives back a reference; the last one flushes what is buffered (bounded by the
// timeout) and closes the client.
func (p *producer) release() {
	producersMu.Lock()
	p.refs--
	last := p.refs == 0
	if last {
		delete(producers, p.key)
	}
	producersMu.Unlock()
	if !last {
		return
	}
	close(p.done)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(p.conf.Timeout, 1))*time.Second)
	defer cancel()
	_ = p.client.Flush(ctx)
	p.client.Close()
}

// produce sends one message: sync waits for the broker's acknowledgement, async only
// buffers it (a full buffer is an error, as lua-resty-kafka's max_buffering).
func (p *producer) produce(ctx context.Context, topic string, key, value []byte) error {
	rec := &kgo.Record{Topic: topic, Key: key, Value: value}
	if p.conf.Sync {
		ctx, cancel := context.WithTimeout(ctx, time.Duration(max(p.conf.Timeout, 1))*time.Second)
		defer cancel()
		return p.client.ProduceSync(ctx, rec).FirstErr()
	}
	// A full buffer fails the record inside TryProduce; delivery failures arrive later on
	// franz-go's goroutine and are only logged.
	var (
		mu       sync.Mutex
		err      error
		returned bool
	)
	p.client.TryProduce(ctx, rec, func(r *kgo.Record, perr error) {
		if perr == nil {
			return
		}
		mu.Lock()
		if !returned {
			err = perr
		}
		mu.Unlock()
		p.logAsync(r.Topic, perr)
	})
	mu.Lock()
	returned = true
	syncErr := err
	mu.Unlock()
	if syncErr != nil {
		return syncErr
	}
	// producer_batch_num: a full count of messages is flushed without waiting for the linger.
	if n := p.sinceFlush.Add(1); n >= int64(max(p.conf.BatchNum, 1)) {
		p.sinceFlush.Store(0)
		select {
		case p.flushKick <- struct{}{}:
		default:
		}
	}
	return nil
}

// logAsync logs a failed buffered message at most once a second, in lua-resty-kafka's words.
func (p *producer) logAsync(topic string, err error) {
	now := time.Now().Unix()
	if last := p.lastErrLog.Load(); last != now && p.lastErrLog.CompareAndSwap(last, now) {
		p.log.Error(fmt.Sprintf("buffered messages send to kafka err: %v, topic: %s", err, topic))
	}
}

// flusher runs one flush at a time for producer_batch_num, until the producer closes.
func (p *producer) flusher() {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("panic recovered", "goroutine", "kafka-logger flusher", "panic", r)
		}
	}()
	for {
		select {
		case <-p.done:
			return
		case <-p.flushKick:
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(p.conf.Timeout, 1))*time.Second)
			_ = p.client.Flush(ctx)
			cancel()
		}
	}
}
