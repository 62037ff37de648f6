package httplogger

import (
	"context"
	"net"

	"encoding/json"
	"fmt"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
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

// collector is an HTTP endpoint recording what loggers POST; fail answers 500 to the first
// fail requests.
type collector struct {
	*httptest.Server
	mu    sync.Mutex
	posts []post
	fail  int
	got   chan struct{}
}

type post struct {
	header http.Header
	uri    string
	body   string
}

func newCollector(t *testing.T, fail int) *collector {
	c := &collector{fail: fail, got: make(chan struct{}, 100)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.posts = append(c.posts, post{r.Header.Clone(), r.RequestURI, string(b)})
		n := len(c.posts)
		c.mu.Unlock()
		if n <= c.fail {
			w.WriteHeader(500)
			io.WriteString(w, "try later")
		}
		c.got <- struct{}{}
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) wait(t *testing.T, n int) []post {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]post(nil), c.posts...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("collector got %d posts, want %d", len(got), n)
		}
	}
}

func logOne(inst any, path string) {
	c := plugintest.New()
	c.Path, c.Route = path, "r1"
	inst.(plugin.Accessor).Access(c)
	inst.(plugin.Logger).Log(c)
}

func TestBatchesAsJSONArray(t *testing.T) {
	col := newCollector(t, 0)
	inst := plugintest.MustNew(t, "http-logger", fmt.Sprintf(
		`{"uri":%q,"batch_max_size":2,"inactive_timeout":1,"auth_header":"Bearer x"}`, col.URL+"/logs?x=1"))
	defer inst.(plugin.Closer).Close()
	for _, p := range []string{"/a", "/b", "/c"} {
		logOne(inst, p)
	}
	posts := col.wait(t, 2)
	var first []map[string]any
	if err := json.Unmarshal([]byte(posts[0].body), &first); err != nil || len(first) != 2 {
		t.Fatalf("first batch %q: %v", posts[0].body, err)
	}
	if first[0]["request"].(map[string]any)["uri"] != "/a" || first[1]["route_id"] != "r1" {
		t.Errorf("entries %v", first)
	}
	if h := posts[0].header; h.Get("Content-Type") != "application/json" || h.Get("Authorization") != "Bearer x" {
		t.Errorf("headers %v", h)
	}
	if posts[0].uri != "/logs?x=1" {
		t.Errorf("posted to %s", posts[0].uri)
	}
	var second []map[string]any
	if err := json.Unmarshal([]byte(posts[1].body), &second); err != nil || len(second) != 1 {
		t.Fatalf("second batch %q", posts[1].body)
	}
}

func TestSingleAndNewLine(t *testing.T) {
	col := newCollector(t, 0)
	one := plugintest.MustNew(t, "http-logger", fmt.Sprintf(`{"uri":%q,"batch_max_size":1}`, col.URL))
	defer one.(plugin.Closer).Close()
	logOne(one, "/single")
	p := col.wait(t, 1)[0]
	if !strings.HasPrefix(p.body, "{") {
		t.Fatalf("batch_max_size 1 must send an object: %q", p.body)
	}

	col2 := newCollector(t, 0)
	nl := plugintest.MustNew(t, "http-logger", fmt.Sprintf(
		`{"uri":%q,"batch_max_size":2,"concat_method":"new_line","log_format":{"u":"$uri"}}`, col2.URL))
	defer nl.(plugin.Closer).Close()
	logOne(nl, "/x")
	logOne(nl, "/y")
	p = col2.wait(t, 1)[0]
	if p.body != `{"route_id":"r1","u":"/x"}`+"\n"+`{"route_id":"r1","u":"/y"}` &&
		p.body != `{"u":"/x","route_id":"r1"}`+"\n"+`{"u":"/y","route_id":"r1"}` {
		t.Errorf("new_line body %q", p.body)
	}
	if p.header.Get("Content-Type") != "text/plain" {
		t.Errorf("content-type %q", p.header.Get("Content-Type"))
	}
}

func TestRetriesFailedBatch(t *testing.T) {
	col := newCollector(t, 2)
	inst := plugintest.MustNew(t, "http-logger", fmt.Sprintf(
		`{"uri":%q,"batch_max_size":1,"max_retry_count":2,"retry_delay":0}`, col.URL))
	defer inst.(plugin.Closer).Close()
	logOne(inst, "/retry")
	posts := col.wait(t, 3)
	if posts[0].body != posts[2].body {
		t.Error("the retry sent another body")
	}
	time.Sleep(100 * time.Millisecond)
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.posts) != 3 {
		t.Errorf("%d posts, want 3 (1 + max_retry_count 2)", len(col.posts))
	}
}

func TestBadURI(t *testing.T) {
	def, _ := plugin.Lookup("http-logger")
	if _, err := def.New([]byte(`{"uri":"ftp://x"}`), plugin.Env{}); err == nil {
		t.Error("ftp uri compiled")
	}
}

// BenchmarkSendRefused is the sender's cost per batch when the collector's port is closed
// (what a dead collector costs the node with batch_max_size 1).
func BenchmarkSendRefused(b *testing.B) {
	addr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()
	s, err := newSender([]byte(`{"uri":"http://` + addr + `/","batch_max_size":1}`))
	if err != nil {
		b.Fatal(err)
	}
	e := []*logentry.Entry{{Fields: []logentry.Field{{Key: "a", Value: "b"}}}}
	b.ReportAllocs()
	for b.Loop() {
		if s.send(context.Background(), e) == nil {
			b.Fatal("send to a closed port succeeded")
		}
	}
}
