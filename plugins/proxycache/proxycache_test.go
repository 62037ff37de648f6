package proxycache

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// tctx is plugintest.Ctx that can list its response headers, as the gateway's Ctx will.
type tctx struct{ *plugintest.Ctx }

func (c tctx) VisitRespHeaders(fn func(name, value []byte)) {
	for k, vs := range c.RespHdr {
		for _, v := range vs {
			fn([]byte(k), []byte(v))
		}
	}
}

// fakeNode is a plugin.Node with a configurable apisix.proxy_cache.
type fakeNode struct {
	plugin.Node
	conf string
}

func (n fakeNode) Config(path string) json.RawMessage {
	if path != "apisix.proxy_cache" || n.conf == "" {
		return nil
	}
	return json.RawMessage(n.conf)
}
func (fakeNode) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testZones starts the plugin's zones with a disk zone "disk_cache_one" under a temp dir.
func testZones(t testing.TB, extra string) (*zones, string) {
	t.Helper()
	dir := t.TempDir()
	conf := `{"cache_ttl":"10s","zones":[
		{"name":"disk_cache_one","memory_size":"1m","disk_size":"100m","disk_path":` + jsonStr(dir) + `,"cache_levels":"1:2"},
		{"name":"memory_cache","memory_size":"1m"}` + extra + `]}`
	sh, err := start(fakeNode{conf: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return sh.(*zones), dir
}

func jsonStr(s string) string { b, _ := json.Marshal(s); return string(b) }

func compile(t testing.TB, zs *zones, conf string) *ProxyCache {
	t.Helper()
	in, err := newProxyCache(json.RawMessage(conf), plugin.Env{Shared: zs, Node: fakeNode{}})
	if err != nil {
		t.Fatalf("New(%s): %v", conf, err)
	}
	return in.(*ProxyCache)
}

// origin is a fake upstream answering through the phases the runtime would run.
type origin struct {
	hits   atomic.Int64
	status int
	header http.Header
	body   string
	block  chan struct{} // when set, the upstream waits on it
}

type result struct {
	status int
	header http.Header
	body   string
}

// run sends one request through access → (upstream) → header_filter → body_filter → log.
func run(p *ProxyCache, o *origin, setup func(c *plugintest.Ctx)) result {
	pc := plugintest.New()
	pc.Path = "/x"
	if setup != nil {
		setup(pc)
	}
	c := tctx{pc}
	p.Access(c)
	var body []byte
	if pc.Exited() {
		body = pc.ExitBody
	} else {
		o.hits.Add(1)
		if o.block != nil {
			<-o.block
		}
		pc.StatusV = o.status
		if pc.StatusV == 0 {
			pc.StatusV = 200
		}
		pc.Info.UpStatus = pc.StatusV
		for k, vs := range o.header {
			for _, v := range vs {
				pc.RespHdr.Add(k, v)
			}
		}
		body = []byte(o.body)
	}
	p.HeaderFilter(c)
	var out []byte
	for i := 0; i < len(body) || i == 0; i += 3 {
		end := min(i+3, len(body))
		out = append(out, p.BodyFilter(c, body[i:end], end == len(body))...)
	}
	p.Log(c)
	return result{pc.StatusV, pc.RespHdr, string(out)}
}

func cacheStatus(r result) string { return r.header.Get("Apisix-Cache-Status") }

func TestNewChecks(t *testing.T) {
	for _, tc := range []struct{ conf, err string }{
		{`{}`, ""},
		{`{"cache_strategy":"memory","cache_zone":"memory_cache"}`, ""},
		{`{"cache_zone":"nope"}`, "cache_zone nope not found"},
		{`{"cache_strategy":"memory"}`, "invalid or empty cache_zone for cache_strategy: memory"},
		{`{"cache_zone":"memory_cache"}`, "invalid or empty cache_zone for cache_strategy: disk"},
		{`{"cache_key":["$host","$request_method"]}`, "cache_key variable $request_method unsupported"},
	} {
		// Admin API validation: no Shared, no Node: APISIX's default zones.
		_, err := newProxyCache(json.RawMessage(tc.conf), plugin.Env{})
		if got := errString(err); got != tc.err {
			t.Errorf("New(%s) = %q, want %q", tc.conf, got, tc.err)
		}
	}
	zs, _ := testZones(t, `,{"name":"mem2","memory_size":1024}`)
	compile(t, zs, `{"cache_strategy":"memory","cache_zone":"mem2"}`)
	if _, err := newProxyCache(json.RawMessage(`{}`), plugin.Env{Node: fakeNode{}}); err == nil {
		t.Error("a data plane without started zones must fail closed")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseNodeConf(t *testing.T) {
	specs, ttl, err := parseNodeConf(nil)
	if err != nil || ttl != 10*time.Second || len(specs) != 2 || specs[0].DiskPath != "/tmp/disk_cache_one" || specs[1].MemorySize != 50<<20 {
		t.Fatalf("defaults: %+v %v %v", specs, ttl, err)
	}
	specs, ttl, err = parseNodeConf(json.RawMessage(`{"cache_ttl":"1m30s","zones":[{"name":"a","memory_size":"10k","disk_size":"2G","disk_path":"/d","cache_levels":"2"},{"name":"b","memory_size":4096}]}`))
	if err != nil || ttl != 90*time.Second || specs[0].MemorySize != 10<<10 || specs[0].DiskSize != 2<<30 || specs[0].CacheLevels != "2" || specs[1].MemorySize != 4096 {
		t.Fatalf("parsed: %+v %v %v", specs, ttl, err)
	}
	for _, bad := range []string{
		`{"zones":[{"name":"a","memory_size":"x"}]}`,
		`{"zones":[{"name":"a","disk_path":"/d","cache_levels":"3:1"}]}`,
		`{"zones":[{"name":"a"},{"name":"a"}]}`,
		`{"cache_ttl":"soon"}`,
	} {
		if _, _, err := parseNodeConf(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestMissThenHit(t *testing.T) {
	zs, _ := testZones(t, "")
	for _, strategy := range []string{"disk", "memory"} {
		t.Run(strategy, func(t *testing.T) {
			conf := `{}`
			if strategy == "memory" {
				conf = `{"cache_strategy":"memory","cache_zone":"memory_cache"}`
			}
			p := compile(t, zs, conf)
			o := &origin{header: http.Header{"Content-Type": {"text/x-test"}, "X-Up": {"a", "b"}}, body: "hello world"}
			r := run(p, o, nil)
			if cacheStatus(r) != "MISS" || r.body != "hello world" || o.hits.Load() != 1 {
				t.Fatalf("first: %+v hits=%d", r, o.hits.Load())
			}
			r = run(p, o, nil)
			if cacheStatus(r) != "HIT" || r.status != 200 || r.body != "hello world" || o.hits.Load() != 1 {
				t.Fatalf("second: %+v hits=%d", r, o.hits.Load())
			}
			if r.header.Get("Content-Type") != "text/x-test" || strings.Join(r.header.Values("X-Up"), ",") != "a,b" {
				t.Errorf("headers not replayed: %v", r.header)
			}
			if _, age := r.header["Age"]; age != (strategy == "memory") {
				t.Errorf("Age header present=%v", age)
			}
			// another host is another key
			r = run(p, o, func(c *plugintest.Ctx) { c.HostV = "other" })
			if cacheStatus(r) != "MISS" {
				t.Errorf("other host: %s", cacheStatus(r))
			}
		})
	}
}

func TestPurge(t *testing.T) {
	zs, dir := testZones(t, "")
	p := compile(t, zs, `{}`)
	o := &origin{body: "x"}
	run(p, o, nil)
	files := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if !d.IsDir() {
			files++
		}
		return nil
	})
	if files != 1 {
		t.Fatalf("%d files cached", files)
	}
	purge := func(c *plugintest.Ctx) { c.MethodV = "PURGE" }
	if r := run(p, o, purge); r.status != 200 || r.body != "" {
		t.Fatalf("purge: %+v", r)
	}
	if r := run(p, o, purge); r.status != 404 {
		t.Fatalf("second purge: %+v", r)
	}
	if r := run(p, o, nil); cacheStatus(r) != "MISS" || o.hits.Load() != 2 {
		t.Fatalf("after purge: %+v", r)
	}
}

func TestExpired(t *testing.T) {
	zs, _ := testZones(t, "")
	p := compile(t, zs, `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_ttl":1}`)
	o := &origin{body: "v1"}
	run(p, o, nil)
	// age the entry instead of sleeping
	z := zs.byName["memory_cache"]
	sh := z.shardOfString("localhost/x")
	sh.mu.Lock()
	sh.items["localhost/x"].expires = time.Now().Add(-time.Second).UnixNano()
	sh.mu.Unlock()
	o.body = "v2"
	if r := run(p, o, nil); cacheStatus(r) != "EXPIRED" || r.body != "v2" {
		t.Fatalf("expired: %+v", r)
	}
	if r := run(p, o, nil); cacheStatus(r) != "HIT" || r.body != "v2" {
		t.Fatalf("refreshed: %+v", r)
	}
}

func TestCacheability(t *testing.T) {
	zs, _ := testZones(t, "")
	for _, tc := range []struct {
		name, conf string
		o          *origin
		setup      func(c *plugintest.Ctx)
		first      string // Apisix-Cache-Status of the first request
		stored     bool
	}{
		{"status not listed", `{}`, &origin{status: 500}, nil, "MISS", false},
		{"404 listed", `{}`, &origin{status: 404}, nil, "MISS", true},
		{"status configured", `{"cache_http_status":[500]}`, &origin{status: 500}, nil, "MISS", true},
		{"private", `{}`, &origin{header: http.Header{"Cache-Control": {"private, max-age=60"}}}, nil, "MISS", false},
		{"no-store", `{}`, &origin{header: http.Header{"Cache-Control": {"no-store"}}}, nil, "MISS", false},
		{"max-age=0 disk", `{}`, &origin{header: http.Header{"Cache-Control": {"max-age=0"}}}, nil, "MISS", false},
		{"expires past disk", `{}`, &origin{header: http.Header{"Expires": {"Thu, 01 Jan 1970 00:00:00 GMT"}}}, nil, "MISS", false},
		{"set-cookie", `{}`, &origin{header: http.Header{"Set-Cookie": {"a=b"}}}, nil, "MISS", false},
		{"set-cookie allowed", `{"cache_set_cookie":true}`, &origin{header: http.Header{"Set-Cookie": {"a=b"}}}, nil, "MISS", true},
		{"vary star", `{}`, &origin{header: http.Header{"Vary": {"*"}}}, nil, "MISS", false},
		{"no_cache var", `{"no_cache":["$arg_nc"]}`, &origin{}, func(c *plugintest.Ctx) { c.Query.Set("nc", "1") }, "MISS", false},
		{"no_cache zero", `{"no_cache":["$arg_nc"],"cache_key":["$uri"]}`, &origin{}, func(c *plugintest.Ctx) { c.Query.Set("nc", "0") }, "MISS", true},
		{"bypass disk stores", `{"cache_bypass":["$arg_b"],"cache_key":["$uri"]}`, &origin{}, func(c *plugintest.Ctx) { c.Query.Set("b", "1") }, "BYPASS", true},
		{"bypass memory", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_bypass":["$arg_b"]}`, &origin{}, func(c *plugintest.Ctx) { c.Query.Set("b", "1") }, "BYPASS", false},
		{"method disk", `{}`, &origin{}, func(c *plugintest.Ctx) { c.MethodV = "POST" }, "BYPASS", false},
		{"method memory", `{"cache_strategy":"memory","cache_zone":"memory_cache"}`, &origin{}, func(c *plugintest.Ctx) { c.MethodV = "POST" }, "MISS", false},
		{"post allowed", `{"cache_method":["POST"]}`, &origin{}, func(c *plugintest.Ctx) { c.MethodV = "POST" }, "MISS", true},
		{"memory cache_control no ttl", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_control":true}`, &origin{}, nil, "MISS", false},
		{"memory cache_control max-age", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_control":true}`, &origin{header: http.Header{"Cache-Control": {"max-age=60"}}}, nil, "MISS", true},
		{"memory request no-cache", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_control":true}`, &origin{header: http.Header{"Cache-Control": {"max-age=60"}}}, func(c *plugintest.Ctx) { c.ReqHeader.Set("Cache-Control", "no-cache") }, "BYPASS", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, zs, tc.conf)
			uri := "/" + strings.ReplaceAll(tc.name, " ", "_")
			setup := func(c *plugintest.Ctx) {
				c.Path = uri
				if tc.setup != nil {
					tc.setup(c)
				}
			}
			o := tc.o
			o.body = "b"
			if r := run(p, o, setup); cacheStatus(r) != tc.first {
				t.Fatalf("first: %q want %q", cacheStatus(r), tc.first)
			}
			again := func(c *plugintest.Ctx) {
				c.Path = uri
				c.MethodV = "GET"
				if tc.setup != nil {
					tc.setup(c)
				}
				c.Query.Del("b")
				c.Query.Del("nc")
				c.ReqHeader.Del("Cache-Control")
			}
			r := run(p, o, again)
			if tc.stored != (cacheStatus(r) == "HIT") && !strings.Contains(tc.name, "method") && !strings.Contains(tc.name, "post") {
				t.Fatalf("stored=%v, second request: %q", tc.stored, cacheStatus(r))
			}
			if strings.Contains(tc.name, "post") {
				r := run(p, o, func(c *plugintest.Ctx) { c.Path = uri; c.MethodV = "POST" })
				if cacheStatus(r) != "HIT" {
					t.Fatalf("POST again: %q", cacheStatus(r))
				}
			}
		})
	}
}

func TestOnlyIfCached(t *testing.T) {
	zs, _ := testZones(t, "")
	p := compile(t, zs, `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_control":true}`)
	r := run(p, &origin{}, func(c *plugintest.Ctx) { c.ReqHeader.Set("Cache-Control", "only-if-cached") })
	if r.status != 504 || cacheStatus(r) != "MISS" {
		t.Fatalf("%+v", r)
	}
}

func TestVary(t *testing.T) {
	zs, _ := testZones(t, "")
	for _, conf := range []string{`{}`, `{"cache_strategy":"memory","cache_zone":"memory_cache"}`} {
		p := compile(t, zs, conf)
		o := &origin{header: http.Header{"Vary": {"Accept-Language"}}}
		lang := func(l string) func(c *plugintest.Ctx) {
			return func(c *plugintest.Ctx) { c.Path = "/vary"; c.ReqHeader.Set("Accept-Language", l) }
		}
		o.body = "en"
		if r := run(p, o, lang("en")); cacheStatus(r) != "MISS" {
			t.Fatal(r)
		}
		o.body = "de"
		if r := run(p, o, lang("de")); cacheStatus(r) != "MISS" || r.body != "de" {
			t.Fatal(r)
		}
		if r := run(p, o, lang("en")); cacheStatus(r) != "HIT" || r.body != "en" {
			t.Fatalf("%s en: %+v", conf, r)
		}
		if r := run(p, o, lang("de")); cacheStatus(r) != "HIT" || r.body != "de" {
			t.Fatalf("%s de: %+v", conf, r)
		}
		if r := run(p, o, func(c *plugintest.Ctx) { c.Path = "/vary"; c.MethodV = "PURGE" }); r.status != 200 {
			t.Fatal(r)
		}
		if r := run(p, o, lang("en")); cacheStatus(r) != "MISS" {
			t.Fatalf("after purge: %+v", r)
		}
	}
}

func TestHideCacheHeaders(t *testing.T) {
	zs, _ := testZones(t, "")
	for _, conf := range []string{`{"hide_cache_headers":true}`, `{"hide_cache_headers":true,"cache_strategy":"memory","cache_zone":"memory_cache"}`} {
		p := compile(t, zs, conf)
		o := &origin{header: http.Header{"Cache-Control": {"max-age=60"}, "Expires": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}, body: "h"}
		for i, want := range []string{"MISS", "HIT"} {
			r := run(p, o, func(c *plugintest.Ctx) { c.Path = "/hide" })
			if cacheStatus(r) != want || r.header.Get("Cache-Control") != "" || r.header.Get("Expires") != "" {
				t.Fatalf("%s request %d: %+v", conf, i, r)
			}
		}
	}
}

func TestConsumerIsolation(t *testing.T) {
	zs, _ := testZones(t, "")
	p := compile(t, zs, `{"cache_strategy":"memory","cache_zone":"memory_cache"}`)
	o := &origin{body: "jack"}
	as := func(name string) func(c *plugintest.Ctx) {
		return func(c *plugintest.Ctx) { c.ConsumerV = &plugin.Consumer{Username: name} }
	}
	run(p, o, as("jack"))
	if r := run(p, o, as("rose")); cacheStatus(r) != "MISS" {
		t.Fatalf("rose got jack's entry: %+v", r)
	}
	if r := run(p, o, as("jack")); cacheStatus(r) != "HIT" {
		t.Fatalf("jack: %+v", r)
	}
	shared := compile(t, zs, `{"cache_strategy":"memory","cache_zone":"memory_cache","consumer_isolation":false,"cache_key":["shared"]}`)
	run(shared, o, as("jack"))
	if r := run(shared, o, as("rose")); cacheStatus(r) != "HIT" {
		t.Fatalf("without isolation: %+v", r)
	}
}

// TestCollapse: ten concurrent misses for one key make one upstream request; the rest are
// served the stored answer.
func TestCollapse(t *testing.T) {
	zs, _ := testZones(t, "")
	for _, conf := range []string{`{}`, `{"cache_strategy":"memory","cache_zone":"memory_cache"}`} {
		p := compile(t, zs, conf)
		o := &origin{body: "once", block: make(chan struct{})}
		var wg sync.WaitGroup
		results := make([]result, 10)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = run(p, o, func(c *plugintest.Ctx) { c.Path = "/collapse" })
			}()
		}
		// let every request reach access, then let the one upstream request answer
		deadline := time.Now().Add(5 * time.Second)
		for o.hits.Load() < 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		close(o.block)
		wg.Wait()
		hits := 0
		for _, r := range results {
			if r.body != "once" {
				t.Fatalf("%s: body %q", conf, r.body)
			}
			if cacheStatus(r) == "HIT" {
				hits++
			}
		}
		if o.hits.Load() != 1 || hits != 9 {
			t.Fatalf("%s: upstream hits %d, cache hits %d", conf, o.hits.Load(), hits)
		}
	}
}

// TestCollapseTimeout: a waiter gives up after the lock timeout and goes upstream itself.
func TestCollapseTimeout(t *testing.T) {
	zs, _ := testZones(t, "")
	p := compile(t, zs, `{}`)
	p.lockWait = 20 * time.Millisecond
	o := &origin{body: "slow", block: make(chan struct{})}
	done := make(chan result)
	go func() { done <- run(p, o, func(c *plugintest.Ctx) { c.Path = "/slow" }) }()
	for o.hits.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() { done <- run(p, o, func(c *plugintest.Ctx) { c.Path = "/slow" }) }()
	for o.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(o.block)
	<-done
	<-done
	if r := run(p, o, func(c *plugintest.Ctx) { c.Path = "/slow" }); cacheStatus(r) != "HIT" {
		t.Fatalf("%+v", r)
	}
}

// TestAbandonedFill: a request that ends before eof (client gone) stores nothing and releases
// its waiters.
func TestAbandonedFill(t *testing.T) {
	zs, dir := testZones(t, "")
	p := compile(t, zs, `{}`)
	pc := plugintest.New()
	c := tctx{pc}
	p.Access(c)
	pc.Info.UpStatus = 200
	p.HeaderFilter(c)
	p.BodyFilter(c, []byte("partial"), false)
	p.Log(c)
	if n := zs.byName["disk_cache_one"].count(); n != 0 {
		t.Fatalf("%d entries", n)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	if _, leader := zs.byName["disk_cache_one"].beginFill("localhost/"); !leader {
		t.Fatal("fill not released")
	}
}

func TestDiskReload(t *testing.T) {
	dir := t.TempDir()
	conf := `{"zones":[{"name":"disk_cache_one","disk_path":` + jsonStr(dir) + `}]}`
	sh, err := start(fakeNode{conf: conf})
	if err != nil {
		t.Fatal(err)
	}
	p := compile(t, sh.(*zones), `{}`)
	o := &origin{header: http.Header{"Content-Type": {"a/b"}}, body: "persisted"}
	run(p, o, nil)
	sh.Close()
	// a crash leaves a temp file and a torn file behind
	os.WriteFile(filepath.Join(dir, tempPrefix+"123"), []byte("junk"), 0o600)
	torn := filepath.Join(dir, "f", "ed", "0123456789abcdef0123456789abcedf")
	os.MkdirAll(filepath.Dir(torn), 0o700)
	os.WriteFile(torn, []byte("half a body"), 0o600)
	mine := filepath.Join(dir, "README")
	os.WriteFile(mine, []byte("not a cache file"), 0o600)

	sh2, err := start(fakeNode{conf: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer sh2.Close()
	p2 := compile(t, sh2.(*zones), `{}`)
	r := run(p2, o, nil)
	if cacheStatus(r) != "HIT" || r.body != "persisted" || r.header.Get("Content-Type") != "a/b" || o.hits.Load() != 1 {
		t.Fatalf("after reload: %+v", r)
	}
	for _, f := range []string{filepath.Join(dir, tempPrefix+"123"), torn} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s not removed", f)
		}
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
}

func TestMemoryBounded(t *testing.T) {
	zs, _ := testZones(t, `,{"name":"tiny","memory_size":"64k"}`)
	p := compile(t, zs, `{"cache_strategy":"memory","cache_zone":"tiny"}`)
	o := &origin{body: strings.Repeat("x", 4000)}
	for i := range 100 {
		run(p, o, func(c *plugintest.Ctx) { c.Path = "/m" + string(rune('a'+i%26)) + string(rune('a'+i/26)) })
	}
	z := zs.byName["tiny"]
	if used := z.used.Load(); used > 64<<10 || z.count() == 0 {
		t.Fatalf("zone holds %d bytes in %d entries", used, z.count())
	}
	// a body larger than max_resp_body_size is not stored
	small := compile(t, zs, `{"cache_strategy":"memory","cache_zone":"memory_cache","max_resp_body_size":10}`)
	run(small, o, func(c *plugintest.Ctx) { c.Path = "/big" })
	if r := run(small, o, func(c *plugintest.Ctx) { c.Path = "/big" }); cacheStatus(r) != "MISS" {
		t.Fatalf("oversized body stored: %s", cacheStatus(r))
	}
}

func TestDiskBounded(t *testing.T) {
	dir := t.TempDir()
	sh, err := start(fakeNode{conf: `{"zones":[{"name":"disk_cache_one","disk_path":` + jsonStr(dir) + `,"disk_size":"100k"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	p := compile(t, sh.(*zones), `{}`)
	o := &origin{body: strings.Repeat("y", 10000)}
	for i := range 40 {
		run(p, o, func(c *plugintest.Ctx) { c.Path = "/d" + string(rune('a'+i%26)) + string(rune('a'+i/26)) })
	}
	var files, bytes int64
	filepath.WalkDir(dir, func(path string, d os.DirEntry, _ error) error {
		if !d.IsDir() {
			fi, _ := d.Info()
			files++
			bytes += fi.Size()
		}
		return nil
	})
	if bytes > 100<<10 || files == 0 || files != int64(sh.(*zones).byName["disk_cache_one"].count()) {
		t.Fatalf("%d files, %d bytes, index %d", files, bytes, sh.(*zones).byName["disk_cache_one"].count())
	}
}
