package kafkalogger

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// newCluster starts franz-go's in-process Kafka on loopback with topic "logs".
func newCluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "logs")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	host, port, _ := net.SplitHostPort(c.ListenAddrs()[0])
	return c, fmt.Sprintf(`[{"host":%q,"port":%s}]`, host, port)
}

// consume reads n records of topic from the start.
func consume(t *testing.T, addr string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics("logs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records, want %d", len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func logOne(inst any, method, path, body string) {
	c := plugintest.New()
	c.MethodV, c.Path, c.Route = method, path, "r1"
	c.ReqHeader.Set("X-Test", "v")
	c.ReqBody = []byte(body)
	inst.(plugin.Accessor).Access(c)
	inst.(plugin.Logger).Log(c)
}

func TestProduceBatchAsArrayWithKey(t *testing.T) {
	cl, brokers := newCluster(t)
	inst := plugintest.MustNew(t, "kafka-logger", `{"brokers":`+brokers+`,"kafka_topic":"logs","key":"k1",
		"producer_type":"sync","batch_max_size":2,"include_req_body":true}`)
	defer inst.(plugin.Closer).Close()
	logOne(inst, "POST", "/a", "body-a")
	logOne(inst, "GET", "/b", "")
	recs := consume(t, cl.ListenAddrs()[0], 1)
	if string(recs[0].Key) != "k1" {
		t.Errorf("key %q", recs[0].Key)
	}
	var entries []map[string]any
	if err := json.Unmarshal(recs[0].Value, &entries); err != nil || len(entries) != 2 {
		t.Fatalf("value is not a 2-entry array: %v %s", err, recs[0].Value)
	}
	req := entries[0]["request"].(map[string]any)
	if req["method"] != "POST" || req["uri"] != "/a" || req["body"] != "body-a" || entries[0]["route_id"] != "r1" {
		t.Errorf("entry %v", entries[0])
	}
}

func TestOriginFormatSingleAsync(t *testing.T) {
	cl, brokers := newCluster(t)
	inst := plugintest.MustNew(t, "kafka-logger", `{"brokers":`+brokers+`,"kafka_topic":"logs",
		"meta_format":"origin","batch_max_size":1,"include_req_body":true,"max_req_body_bytes":4}`)
	defer inst.(plugin.Closer).Close()
	logOne(inst, "POST", "/o?x=1", "0123456789")
	recs := consume(t, cl.ListenAddrs()[0], 1)
	want := "POST /o?x=1 HTTP/1.1\r\nX-Test: v\r\n\r\n0123"
	if got := string(recs[0].Value); got != want {
		t.Errorf("origin message %q, want %q", got, want)
	}
	if recs[0].Key != nil {
		t.Errorf("key %q without conf key", recs[0].Key)
	}
}

func TestSASLPlainAndLegacyBrokerList(t *testing.T) {
	cl, _ := newCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "secret"))
	host, port, _ := net.SplitHostPort(cl.ListenAddrs()[0])
	inst := plugintest.MustNew(t, "kafka-logger", `{"brokers":[{"host":"`+host+`","port":`+port+`,
		"sasl_config":{"user":"admin","password":"secret"}}],"kafka_topic":"logs","producer_type":"sync",
		"batch_max_size":1,"log_format":{"m":"$request_method"}}`)
	defer inst.(plugin.Closer).Close()
	logOne(inst, "PUT", "/s", "")
	recs := consume(t, cl.ListenAddrs()[0], 1, kgo.SASL(mechanism(saslConfig{User: "admin", Password: "secret"})))
	if got := string(recs[0].Value); got != `{"m":"PUT","route_id":"r1"}` {
		t.Errorf("value %s", got)
	}

	_, pc, err := parse([]byte(`{"broker_list":{"b.example":9093,"a.example":9092},"kafka_topic":"t"}`))
	if err != nil || len(pc.Brokers) != 2 || pc.Brokers[0].Host != "a.example" || pc.Brokers[1].Port != 9093 {
		t.Errorf("broker_list: %+v %v", pc.Brokers, err)
	}
}

func TestProducerSharedAndClosed(t *testing.T) {
	_, brokers := newCluster(t)
	_, pc, _ := parse([]byte(`{"brokers":` + brokers + `,"kafka_topic":"logs"}`))
	p1, err := acquireProducer(pc, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := acquireProducer(pc, nil)
	if p1 != p2 {
		t.Fatal("equal producer settings got two clients")
	}
	pc2 := pc
	pc2.ClusterName = 2
	p3, _ := acquireProducer(pc2, nil)
	if p3 == p1 {
		t.Fatal("cluster_name does not separate producers")
	}
	p3.release()
	p1.release()
	producersMu.Lock()
	_, live := producers[p1.key]
	producersMu.Unlock()
	if !live {
		t.Fatal("producer closed while referenced")
	}
	p2.release()
	producersMu.Lock()
	_, live = producers[p1.key]
	producersMu.Unlock()
	if live {
		t.Fatal("producer kept after the last release")
	}
}

// TestDeadBrokerSyncFailsWithinTimeout: with no broker, a sync batch fails with APISIX's
// message after the timeout, on the batch goroutine; the log phase only queues.
func TestDeadBrokerSyncFailsWithinTimeout(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c, pc, _ := parse([]byte(`{"brokers":[{"host":"127.0.0.1","port":` + strconv.Itoa(port) + `}],
		"kafka_topic":"logs","producer_type":"sync","timeout":1}`))
	s := &sender{pc: pc, topic: c.KafkaTopic, single: true}
	defer s.stop()
	start := time.Now()
	err := s.send(context.Background(), []item{{origin: "x"}})
	if err == nil || !strings.HasPrefix(err.Error(), "failed to send data to Kafka topic: ") ||
		!strings.Contains(err.Error(), `"port":`+strconv.Itoa(port)) {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("sync send took %v with timeout 1s", d)
	}
}
