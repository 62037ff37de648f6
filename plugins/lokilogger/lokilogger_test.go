package lokilogger

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// push is Loki's push request.
type push struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	} `json:"streams"`
}

type received struct {
	header http.Header
	path   string
	push   push
}

// newLoki is an HTTP endpoint that decodes Loki pushes; status answers them.
func newLoki(t *testing.T, status int) (*httptest.Server, func(n int) []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p push
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("push body is not Loki's JSON: %v: %s", err, b)
		}
		mu.Lock()
		got = append(got, received{r.Header.Clone(), r.URL.Path, p})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	wait := func(n int) []received {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			out := append([]received(nil), got...)
			mu.Unlock()
			if len(out) >= n {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("loki got %d pushes, want %d", len(out), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return srv, wait
}

func logRequest(inst any, route, host string, start time.Time) {
	c := plugintest.New()
	c.Route, c.HostV, c.Info.Start = route, host, start
	inst.(plugin.Accessor).Access(c)
	inst.(plugin.Logger).Log(c)
}

func TestPushFormatLabelsAndHeaders(t *testing.T) {
	srv, wait := newLoki(t, 204)
	inst := plugintest.MustNew(t, "loki-logger", `{"endpoint_addrs":["`+srv.URL+`"],"batch_max_size":3,
		"tenant_id":"t1","headers":{"X-Extra":"yes"},
		"log_labels":{"job":"apisix","route":"$route_id","host":"${host}","lit":"plain"}}`)
	defer inst.(plugin.Closer).Close()
	start := time.UnixMilli(1700000000123)
	logRequest(inst, "r1", "a.example", start)
	logRequest(inst, "r2", "a.example", start)
	logRequest(inst, "r1", "a.example", start)
	r := wait(1)[0]
	if r.path != "/loki/api/v1/push" || r.header.Get("Content-Type") != "application/json" ||
		r.header.Get("X-Scope-OrgID") != "t1" || r.header.Get("X-Extra") != "yes" {
		t.Errorf("push %s headers %v", r.path, r.header)
	}
	if len(r.push.Streams) != 2 {
		t.Fatalf("streams %+v, want two label sets", r.push.Streams)
	}
	s0, s1 := r.push.Streams[0], r.push.Streams[1]
	want0 := map[string]string{"job": "apisix", "route": "r1", "host": "a.example", "lit": "plain"}
	for k, v := range want0 {
		if s0.Stream[k] != v {
			t.Errorf("stream 0 labels %v, want %v", s0.Stream, want0)
		}
	}
	if s1.Stream["route"] != "r2" || len(s0.Values) != 2 || len(s1.Values) != 1 {
		t.Errorf("grouping: %+v", r.push.Streams)
	}
	if ts := s0.Values[0][0]; ts != "1700000000123000000" {
		t.Errorf("timestamp %q, want start ms + 000000", ts)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(s0.Values[0][1]), &entry); err != nil {
		t.Fatalf("line is not an entry: %v", err)
	}
	if entry["route_id"] != "r1" || entry["request"] == nil {
		t.Errorf("entry %v", entry)
	}
}

func TestDefaultsNoMatchAndFailure(t *testing.T) {
	srv, wait := newLoki(t, 500)
	inst := plugintest.MustNew(t, "loki-logger", `{"endpoint_addrs":["`+srv.URL+`"],"endpoint_uri":"/p",
		"batch_max_size":1,"max_retry_count":1,"retry_delay":0}`)
	defer inst.(plugin.Closer).Close()
	logRequest(inst, "", "h", time.Now())
	got := wait(2) // a 500 is a failure: retried once
	r := got[0]
	if r.path != "/p" || r.header.Get("X-Scope-OrgID") != "fake" {
		t.Errorf("path %s tenant %q", r.path, r.header.Get("X-Scope-OrgID"))
	}
	if st := r.push.Streams; len(st) != 1 || len(st[0].Stream) != 1 || st[0].Stream["job"] != "apisix" {
		t.Errorf("default labels: %+v", st)
	}
	if line := r.push.Streams[0].Values[0][1]; !strings.Contains(line, `"route_id":"no-matched"`) {
		t.Errorf("unmatched entry %s", line)
	}
}

func TestMissingVariableKeepsLiteralOnlyWhenNothingResolved(t *testing.T) {
	_, labels, err := newSender([]byte(`{"endpoint_addrs":["http://127.0.0.1:1"],
		"log_labels":{"a":"$http_nope","b":"x-$host-$http_nope","c":"${http_nope ?? dflt}"}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := plugintest.New()
	c.HostV = "h"
	got := (&Logger{labels: labels}).resolveLabels(c)
	// labels are kept sorted by name: a, b, c.
	if want := []string{"$http_nope", "x-h-", "dflt"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("labels %q, want %q", got, want)
	}
}
