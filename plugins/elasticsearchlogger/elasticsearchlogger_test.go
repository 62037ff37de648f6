package elasticsearchlogger

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// bulkDoc is one action and document pair of a _bulk request.
type bulkDoc struct {
	action map[string]map[string]string
	doc    map[string]any
}

type bulkReq struct {
	header http.Header
	docs   []bulkDoc
}

// esServer answers GET / with version and parses POST /_bulk line by line.
type esServer struct {
	*httptest.Server
	mu     sync.Mutex
	probes []http.Header
	bulks  []bulkReq
}

func newES(t *testing.T, version string, bulkStatus int) *esServer {
	es := &esServer{}
	es.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/":
			es.mu.Lock()
			es.probes = append(es.probes, r.Header.Clone())
			es.mu.Unlock()
			w.Write([]byte(`{"name":"n","version":{"number":"` + version + `"}}`))
		case r.Method == "POST" && r.URL.Path == "/_bulk":
			br := bulkReq{header: r.Header.Clone()}
			sc := bufio.NewScanner(r.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if len(lines)%2 != 0 {
				t.Errorf("bulk body has %d lines, want action/document pairs", len(lines))
			}
			for i := 0; i+1 < len(lines); i += 2 {
				var d bulkDoc
				if err := json.Unmarshal([]byte(lines[i]), &d.action); err != nil {
					t.Errorf("action line %q: %v", lines[i], err)
				}
				if err := json.Unmarshal([]byte(lines[i+1]), &d.doc); err != nil {
					t.Errorf("document line %q: %v", lines[i+1], err)
				}
				br.docs = append(br.docs, d)
			}
			es.mu.Lock()
			es.bulks = append(es.bulks, br)
			es.mu.Unlock()
			w.WriteHeader(bulkStatus)
			w.Write([]byte(`{"errors":false}`))
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(es.Close)
	return es
}

func (es *esServer) wait(t *testing.T, n int) []bulkReq {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es.mu.Lock()
		out := append([]bulkReq(nil), es.bulks...)
		es.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d bulk requests, want %d", len(out), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func logOne(inst any, route, host string) {
	c := plugintest.New()
	c.Route, c.HostV = route, host
	inst.(plugin.Accessor).Access(c)
	inst.(plugin.Logger).Log(c)
}

func TestBulkFormatAuthAndVersion(t *testing.T) {
	es := newES(t, "8.11.0", 200)
	inst := plugintest.MustNew(t, "elasticsearch-logger", `{"endpoint_addrs":["`+es.URL+`"],
		"field":{"index":"services"},"auth":{"username":"elastic","password":"123456"},
		"headers":{"X-Extra":"1"},"batch_max_size":2}`)
	defer inst.(plugin.Closer).Close()
	logOne(inst, "r1", "a.example")
	logOne(inst, "r2", "a.example")
	b := es.wait(t, 1)[0]
	if got := b.header.Get("Content-Type"); got != "application/x-ndjson" {
		t.Errorf("Content-Type %q", got)
	}
	if got := b.header.Get("Accept"); got != "application/vnd.elasticsearch+json" {
		t.Errorf("Accept %q", got)
	}
	if got := b.header.Get("Authorization"); got != "Basic ZWxhc3RpYzoxMjM0NTY=" || b.header.Get("X-Extra") != "1" {
		t.Errorf("Authorization %q X-Extra %q", got, b.header.Get("X-Extra"))
	}
	if len(b.docs) != 2 {
		t.Fatalf("%d documents", len(b.docs))
	}
	for i, d := range b.docs {
		idx, ok := d.action["index"]
		if !ok || idx["_index"] != "services" || len(idx) != 1 {
			t.Errorf("action %v", d.action)
		}
		if d.doc["route_id"] != []string{"r1", "r2"}[i] {
			t.Errorf("document %d route_id %v", i, d.doc["route_id"])
		}
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	if len(es.probes) != 1 || es.probes[0].Get("Authorization") != "Basic ZWxhc3RpYzoxMjM0NTY=" {
		t.Errorf("version probes %v", es.probes)
	}
}

func TestTypeForOldVersionsAndDynamicIndex(t *testing.T) {
	es := newES(t, "6.8.1", 200)
	inst := plugintest.MustNew(t, "elasticsearch-logger", `{"endpoint_addr":"`+es.URL+`",
		"field":{"index":"svc-$host-{%Y.%m.%d}"},"batch_max_size":1}`)
	defer inst.(plugin.Closer).Close()
	logOne(inst, "r1", "b.example")
	d := es.wait(t, 1)[0].docs[0]
	idx := d.action["index"]
	want := "svc-b.example-" + time.Now().Format("2006.01.02")
	if idx["_index"] != want || idx["_type"] != "_doc" {
		t.Errorf("action %v, want _index %s and _type _doc", d.action, want)
	}
}

func TestNon200IsFailure(t *testing.T) {
	es := newES(t, "7.17.0", 201)
	inst := plugintest.MustNew(t, "elasticsearch-logger", `{"endpoint_addrs":["`+es.URL+`"],
		"field":{"index":"i"},"batch_max_size":1,"max_retry_count":2,"retry_delay":0}`)
	defer inst.(plugin.Closer).Close()
	logOne(inst, "r1", "h")
	if n := len(es.wait(t, 3)); n != 3 {
		t.Errorf("%d bulk requests, want 1 + 2 retries", n)
	}
}

func TestIndexTemplate(t *testing.T) {
	now := time.Date(2026, 3, 7, 9, 5, 4, 0, time.Local)
	c := plugintest.New()
	c.HostV = "h"
	for in, want := range map[string]string{
		"plain":                 "plain",
		"a-{%Y.%m.%d}":          "a-2026.03.07",
		"a-{%H:%M:%S}-{%j}{%%}": "a-09:05:04-066%",
		"a-${host}-$host":       "a-h-h",
		"{%b %a %y}":            "Mar Sat 26",
		"open{":                 "open{",
	} {
		if got := compileIndex(in).resolve(c, now); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestProbeErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{}`:                         "failed to get version from response body",
		`{"version":{"number":"x"}}`: "invalid version format: x",
		`nope`:                       "failed to decode response body",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		s, _, _ := newSender([]byte(`{"endpoint_addrs":["`+srv.URL+`"],"field":{"index":"i"}}`), nil)
		_, err := s.probe(t.Context(), srv.URL)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
		srv.Close()
	}
}
