package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafka-logger, loki-logger and elasticsearch-logger through the real binary: Kafka is
// franz-go's in-process kfake cluster on loopback (consumed with a franz-go consumer); Loki and
// Elasticsearch are in-process HTTP servers that decode the push and bulk formats.

// kafkaCluster starts kfake on loopback with the given topics and returns it and the brokers
// JSON for a kafka-logger conf.
func kafkaCluster(t *testing.T, topics ...string) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	host, port, _ := net.SplitHostPort(c.ListenAddrs()[0])
	return c, fmt.Sprintf(`[{"host":%q,"port":%s}]`, host, port)
}

// consumeTopic reads n records of topic from its start.
func consumeTopic(t *testing.T, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("topic %s: consumed %d records, want %d", topic, len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestKafkaLoggerEntriesAndOrigin: default entries batched into one JSON-array message with the
// conf's key; meta_format origin sends the raw request text, one message per request.
func TestKafkaLoggerEntriesAndOrigin(t *testing.T) {
	kc, brokers := kafkaCluster(t, "access", "raw")
	n, o := loggerNode(t)
	putAll(t, n, o, [][2]string{
		{"/routes/k", routeJSON(o, "/k", `{"kafka-logger":{"brokers":`+brokers+`,"kafka_topic":"access",
			"key":"gw","batch_max_size":2,"inactive_timeout":1,"include_req_body":true}}`)},
		{"/routes/ko", routeJSON(o, "/ko", `{"kafka-logger":{"brokers":`+brokers+`,"kafka_topic":"raw",
			"meta_format":"origin","producer_type":"sync","batch_max_size":1,"include_req_body":true}}`)},
	})
	r1 := send(t, n, req{path: "/k?a=1", header: []string{"X-Test: one"}})
	r2 := send(t, n, req{method: "POST", path: "/k", body: "hello-kafka"})
	r3 := send(t, n, req{method: "POST", path: "/ko?q=2", header: []string{"X-Raw: r"}, body: "raw-body"})
	if r1.Status != 200 || r2.Status != 200 || r3.Status != 200 {
		t.Fatalf("statuses %d %d %d", r1.Status, r2.Status, r3.Status)
	}

	recs := consumeTopic(t, kc, "access", 1)
	if string(recs[0].Key) != "gw" {
		t.Errorf("message key %q, want the conf's key", recs[0].Key)
	}
	entries := logEntries(t, string(recs[0].Value))
	if len(entries) != 2 {
		t.Fatalf("message has %d entries, want batch_max_size 2", len(entries))
	}
	e1, e2 := entries[0], entries[1]
	if logField(e1, "request", "method") != "GET" || logField(e1, "request", "uri") != "/k?a=1" ||
		logField(e1, "request", "headers", "x-test") != "one" || logField(e1, "request", "querystring", "a") != "1" ||
		logField(e1, "response", "status") != 200.0 || e1["route_id"] != "k" || e1["upstream"] != o.addr() {
		t.Errorf("first entry %v", e1)
	}
	if logField(e2, "request", "method") != "POST" || logField(e2, "request", "body") != "hello-kafka" {
		t.Errorf("second entry request %v", e2["request"])
	}
	if !strings.HasPrefix(logField(e1, "request", "url").(string), "http://127.0.0.1:") ||
		logField(e1, "server", "version") != "3.18.0" {
		t.Errorf("url %v server %v", logField(e1, "request", "url"), e1["server"])
	}

	raw := string(consumeTopic(t, kc, "raw", 1)[0].Value)
	if !strings.HasPrefix(raw, "POST /ko?q=2 HTTP/1.1\r\n") || !strings.HasSuffix(raw, "\r\n\r\nraw-body") {
		t.Errorf("origin message %q", raw)
	}
	if !strings.Contains(strings.ToLower(raw), "\r\nx-raw: r\r\n") {
		t.Errorf("origin message lacks the X-Raw header line: %q", raw)
	}
}

// TestKafkaLoggerDeadBrokerDoesNotSlowRequests: with the broker's port closed and a sync
// producer whose timeout is 30 s, requests still answer at once: the log phase only queues.
// The bound (all 10 requests within 15 s) is half of one producer timeout, not a speed claim.
func TestKafkaLoggerDeadBrokerDoesNotSlowRequests(t *testing.T) {
	host, port, _ := net.SplitHostPort(refused(t))
	n, o := loggerNode(t)
	putAll(t, n, o, [][2]string{
		{"/routes/kd", routeJSON(o, "/kd", fmt.Sprintf(`{"kafka-logger":{"brokers":[{"host":%q,"port":%s}],
			"kafka_topic":"access","producer_type":"sync","timeout":30,"batch_max_size":1}}`, host, port))},
	})
	start := time.Now()
	for i := 0; i < 10; i++ {
		if r := send(t, n, req{path: "/kd"}); r.Status != 200 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("10 requests took %v behind a dead broker", d)
	}
}

// lokiPush is Loki's push request.
type lokiPush struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	} `json:"streams"`
}

// TestLokiLoggerPush: the push format, label templates resolved per request and grouped into
// streams, tenant and extra headers, the no-matched route id.
func TestLokiLoggerPush(t *testing.T) {
	col := newLogCollector(t, 0)
	n, o := loggerNode(t)
	putAll(t, n, o, [][2]string{
		{"/routes/l", routeJSON(o, "/l/*", `{"loki-logger":{"endpoint_addrs":["`+col.URL+`"],
			"endpoint_uri":"/loki/api/v1/push","tenant_id":"team-a","headers":{"X-Extra":"e"},
			"log_labels":{"job":"apisix","method":"$request_method"},"batch_max_size":3,"inactive_timeout":1}}`)},
	})
	before := time.Now().UnixMilli()
	send(t, n, req{path: "/l/1"})
	send(t, n, req{method: "POST", path: "/l/2", body: "x"})
	send(t, n, req{path: "/l/3", header: []string{"X-Test: three"}})
	p := col.waitPosts(t, 1)[0]
	if p.URI != "/loki/api/v1/push" || p.Header.Get("Content-Type") != "application/json" ||
		p.Header.Get("X-Scope-OrgID") != "team-a" || p.Header.Get("X-Extra") != "e" {
		t.Errorf("push %s headers %v", p.URI, p.Header)
	}
	var push lokiPush
	if err := json.Unmarshal([]byte(p.Body), &push); err != nil {
		t.Fatalf("push body: %v: %s", err, p.Body)
	}
	if len(push.Streams) != 2 {
		t.Fatalf("streams %+v, want one per method", push.Streams)
	}
	get, post := push.Streams[0], push.Streams[1]
	if get.Stream["job"] != "apisix" || get.Stream["method"] != "GET" || post.Stream["method"] != "POST" ||
		len(get.Values) != 2 || len(post.Values) != 1 {
		t.Errorf("streams %+v", push.Streams)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(get.Values[1][1]), &entry); err != nil {
		t.Fatalf("log line: %v", err)
	}
	if logField(entry, "request", "uri") != "/l/3" || logField(entry, "request", "headers", "x-test") != "three" ||
		entry["route_id"] != "l" {
		t.Errorf("entry %v", entry)
	}
	ts := get.Values[0][0]
	if len(ts) != 19 || !strings.HasSuffix(ts, "000000") || ts[:13] < fmt.Sprint(before-1000) {
		t.Errorf("timestamp %q (test started at %d ms)", ts, before)
	}
}

// esBulk is one parsed _bulk request.
type esBulk struct {
	Header  http.Header
	Actions []map[string]map[string]string
	Docs    []map[string]any
}

// esFake answers GET / with a version and parses POST /_bulk as NDJSON, line by line.
type esFake struct {
	*httptest.Server
	mu     sync.Mutex
	probes int
	bulks  []esBulk
}

func newESFake(t *testing.T, version string) *esFake {
	es := &esFake{}
	es.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" && r.URL.Path == "/" {
			es.mu.Lock()
			es.probes++
			es.mu.Unlock()
			io.WriteString(w, `{"version":{"number":"`+version+`"},"tagline":"You Know, for Search"}`)
			return
		}
		if r.Method != "POST" || r.URL.Path != "/_bulk" {
			w.WriteHeader(404)
			return
		}
		b := esBulk{Header: r.Header.Clone()}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for i := 0; sc.Scan(); i++ {
			if i%2 == 0 {
				var a map[string]map[string]string
				if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
					t.Errorf("action line %q: %v", sc.Text(), err)
				}
				b.Actions = append(b.Actions, a)
			} else {
				var d map[string]any
				if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
					t.Errorf("document line %q: %v", sc.Text(), err)
				}
				b.Docs = append(b.Docs, d)
			}
		}
		es.mu.Lock()
		es.bulks = append(es.bulks, b)
		es.mu.Unlock()
		io.WriteString(w, `{"took":1,"errors":false,"items":[]}`)
	}))
	t.Cleanup(es.Close)
	return es
}

func (es *esFake) waitBulks(t *testing.T, n int) []esBulk {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		es.mu.Lock()
		out := append([]esBulk(nil), es.bulks...)
		es.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("elasticsearch got %d bulk requests, want %d", len(out), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestElasticsearchLoggerBulk: the bulk NDJSON (action + document per entry), index with a
// variable, Basic auth, headers, the version probe; an ES 6 server gets _type _doc.
func TestElasticsearchLoggerBulk(t *testing.T) {
	es8 := newESFake(t, "8.13.4")
	es6 := newESFake(t, "6.8.23")
	n, o := loggerNode(t)
	putAll(t, n, o, [][2]string{
		{"/routes/es", routeJSON(o, "/es", `{"elasticsearch-logger":{"endpoint_addrs":["`+es8.URL+`"],
			"field":{"index":"gw-$request_method"},"auth":{"username":"elastic","password":"changeme"},
			"batch_max_size":2,"inactive_timeout":1,"include_resp_body":true}}`)},
		{"/routes/es6", routeJSON(o, "/es6", `{"elasticsearch-logger":{"endpoint_addr":"`+es6.URL+`",
			"field":{"index":"old"},"batch_max_size":1}}`)},
	})
	send(t, n, req{path: "/es?x=1"})
	send(t, n, req{method: "POST", path: "/es", body: "b"})
	send(t, n, req{path: "/es6"})

	b := es8.waitBulks(t, 1)[0]
	if b.Header.Get("Content-Type") != "application/x-ndjson" || b.Header.Get("Accept") != "application/vnd.elasticsearch+json" ||
		b.Header.Get("Authorization") != "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==" {
		t.Errorf("bulk headers %v", b.Header)
	}
	if len(b.Actions) != 2 || len(b.Docs) != 2 {
		t.Fatalf("bulk has %d actions / %d documents, want 2", len(b.Actions), len(b.Docs))
	}
	if a := b.Actions[0]["index"]; a["_index"] != "gw-GET" || len(a) != 1 {
		t.Errorf("first action %v", b.Actions[0])
	}
	if a := b.Actions[1]["index"]; a["_index"] != "gw-POST" {
		t.Errorf("second action %v", b.Actions[1])
	}
	d := b.Docs[0]
	if logField(d, "request", "uri") != "/es?x=1" || d["route_id"] != "es" || logField(d, "response", "status") != 200.0 {
		t.Errorf("document %v", d)
	}
	if body, _ := logField(d, "response", "body").(string); !strings.Contains(body, `"uri":"/es?x=1"`) {
		t.Errorf("response body not captured: %q", body)
	}
	b6 := es6.waitBulks(t, 1)[0]
	if a := b6.Actions[0]["index"]; a["_index"] != "old" || a["_type"] != "_doc" {
		t.Errorf("ES 6 action %v", b6.Actions[0])
	}
	es8.mu.Lock()
	probes := es8.probes
	es8.mu.Unlock()
	if probes != 1 {
		t.Errorf("%d version probes, want one per conf", probes)
	}
}
