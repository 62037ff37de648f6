package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cacheOrigin counts the requests it gets per path and answers by path:
//
//	/…/vary      Vary: Accept-Language, the language as body
//	/…/s404      404, /…/s500 500
//	/…/maxage    Cache-Control: max-age=60 and an Expires
//	/…/slow      answers after 300 ms
//	/…/large     50 MiB of a deterministic pattern
//	else         "n=<count> <path>"
type cacheOrigin struct {
	*originServer
	mu     sync.Mutex
	counts map[string]int
}

const largeSize = 50 << 20

// largeChunk is the pattern /large repeats; chunk i starts with byte i.
func largeChunk(i int, buf []byte) []byte {
	for j := range buf {
		buf[j] = byte(j*7 + j>>8)
	}
	buf[0] = byte(i)
	return buf
}

func newCacheOrigin(t *testing.T) *cacheOrigin {
	o := &cacheOrigin{counts: map[string]int{}}
	o.originServer = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.counts[r.URL.Path]++
		n := o.counts[r.URL.Path]
		o.mu.Unlock()
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/vary"):
			w.Header().Set("Vary", "Accept-Language")
			io.WriteString(w, "lang="+r.Header.Get("Accept-Language"))
		case strings.HasSuffix(p, "/s404"):
			w.WriteHeader(404)
			io.WriteString(w, "missing")
		case strings.HasSuffix(p, "/s500"):
			w.WriteHeader(500)
			io.WriteString(w, "broken")
		case strings.HasSuffix(p, "/maxage"):
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Expires", time.Now().Add(time.Minute).UTC().Format(http.TimeFormat))
			io.WriteString(w, "fresh")
		case strings.HasSuffix(p, "/slow"):
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "slow")
		case strings.HasSuffix(p, "/large"):
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", fmt.Sprint(largeSize))
			buf := make([]byte, 32<<10)
			for i := 0; i*len(buf) < largeSize; i++ {
				if _, err := w.Write(largeChunk(i, buf)); err != nil {
					return
				}
			}
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "n=%d %s", n, p)
		}
	})
	return o
}

func (o *cacheOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[path]
}

// startCacheNode runs a node whose disk_cache_one zone lives in dir, with a 1 s disk TTL.
func startCacheNode(t *testing.T, dir string) *node {
	p := newPorts(t)
	cfg := p.configYAML(keyConfig(), "")
	zones := fmt.Sprintf(`apisix:
  proxy_cache:
    cache_ttl: 1s
    zones:
      - name: disk_cache_one
        memory_size: 50m
        disk_size: 1G
        disk_path: %s
        cache_levels: "1:2"
      - name: memory_cache
        memory_size: 50m
`, dir)
	cfg = strings.Replace(cfg, "apisix:\n", zones, 1)
	return startNode(t, p, cfg, "")
}

// procMem reports the node process's resident and peak resident memory (Linux).
func procMem(n *node) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", ")
}

func cacheStatusOf(r response) string { return r.Header.Get("Apisix-Cache-Status") }

// expectCache sends r and checks status, Apisix-Cache-Status and body.
func expectCache(t *testing.T, n *node, r req, status int, cache, body string) response {
	t.Helper()
	res := send(t, n, r)
	if res.Status != status || cacheStatusOf(res) != cache || (body != "" && res.Body != body) {
		t.Fatalf("%s %s: %d %q %q, want %d %q %q", r.method, r.path, res.Status, cacheStatusOf(res), res.Body, status, cache, body)
	}
	return res
}

func TestProxyCache(t *testing.T) {
	dir := t.TempDir()
	n := startCacheNode(t, dir)
	o := newCacheOrigin(t)
	methods := `"methods":["GET","HEAD","POST","PURGE"],`
	route := func(uri, conf string) string {
		return fmt.Sprintf(`{"uri":%q,%s"plugins":{"proxy-cache":%s},"upstream":%s}`, uri, methods, conf, upstreamOf(o.originServer))
	}
	putAll(t, n, o.originServer, [][2]string{
		{"/routes/disk", route("/disk/*", `{"cache_key":["$host","$uri"],"cache_bypass":["$arg_bypass"],"no_cache":["$arg_nocache"]}`)},
		{"/routes/mem", route("/mem/*", `{"cache_strategy":"memory","cache_zone":"memory_cache","cache_ttl":1}`)},
		{"/routes/hide", route("/hide/*", `{"hide_cache_headers":true}`)},
		{"/routes/post", route("/post/*", `{"cache_method":["POST"],"cache_http_status":[200,500]}`)},
	})

	t.Run("MissThenHit", func(t *testing.T) {
		for _, base := range []string{"/disk", "/mem"} {
			expectCache(t, n, req{path: base + "/a"}, 200, "MISS", "n=1 "+base+"/a")
			res := expectCache(t, n, req{path: base + "/a"}, 200, "HIT", "n=1 "+base+"/a")
			if res.Header.Get("Content-Type") != "text/plain" {
				t.Errorf("%s: stored Content-Type not replayed: %v", base, res.Header)
			}
			if _, age := res.Header["Age"]; age != (base == "/mem") {
				t.Errorf("%s: Age header %v", base, res.Header)
			}
			if o.count(base+"/a") != 1 {
				t.Fatalf("%s: origin saw %d requests", base, o.count(base+"/a"))
			}
		}
		// the disk zone from the node config holds the entry, in nginx's levels layout
		var files []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, _ error) error {
			if !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				files = append(files, rel)
			}
			return nil
		})
		if len(files) == 0 || len(strings.Split(files[0], string(os.PathSeparator))) != 3 {
			t.Fatalf("disk zone files: %v", files)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		for _, base := range []string{"/disk", "/mem"} {
			path := base + "/exp"
			expectCache(t, n, req{path: path}, 200, "MISS", "")
			expectCache(t, n, req{path: path}, 200, "HIT", "n=1 "+path)
			time.Sleep(1100 * time.Millisecond)
			expectCache(t, n, req{path: path}, 200, "EXPIRED", "n=2 "+path)
			expectCache(t, n, req{path: path}, 200, "HIT", "n=2 "+path)
		}
	})

	t.Run("Purge", func(t *testing.T) {
		for _, base := range []string{"/disk", "/mem"} {
			path := base + "/purge"
			expectCache(t, n, req{path: path}, 200, "MISS", "")
			if r := send(t, n, req{method: "PURGE", path: path}); r.Status != 200 || r.Body != "" {
				t.Fatalf("%s PURGE: %d %q", base, r.Status, r.Body)
			}
			if r := send(t, n, req{method: "PURGE", path: path}); r.Status != 404 {
				t.Fatalf("%s second PURGE: %d %q", base, r.Status, r.Body)
			}
			expectCache(t, n, req{path: path}, 200, "MISS", "n=2 "+path)
		}
	})

	t.Run("Vary", func(t *testing.T) {
		for _, base := range []string{"/disk", "/mem"} {
			path := base + "/vary"
			en, de := []string{"Accept-Language: en"}, []string{"Accept-Language: de"}
			expectCache(t, n, req{path: path, header: en}, 200, "MISS", "lang=en")
			expectCache(t, n, req{path: path, header: de}, 200, "MISS", "lang=de")
			expectCache(t, n, req{path: path, header: en}, 200, "HIT", "lang=en")
			expectCache(t, n, req{path: path, header: de}, 200, "HIT", "lang=de")
			if o.count(path) != 2 {
				t.Fatalf("%s: origin saw %d", path, o.count(path))
			}
		}
	})

	t.Run("Bypass", func(t *testing.T) {
		expectCache(t, n, req{path: "/disk/byp"}, 200, "MISS", "n=1 /disk/byp")
		// nginx's proxy_cache_bypass: no lookup, the answer is stored again
		expectCache(t, n, req{path: "/disk/byp?bypass=1"}, 200, "BYPASS", "n=2 /disk/byp")
		expectCache(t, n, req{path: "/disk/byp?bypass=0"}, 200, "HIT", "n=2 /disk/byp")
	})

	t.Run("NoCache", func(t *testing.T) {
		expectCache(t, n, req{path: "/disk/nc?nocache=1"}, 200, "MISS", "n=1 /disk/nc")
		expectCache(t, n, req{path: "/disk/nc"}, 200, "MISS", "n=2 /disk/nc")
		expectCache(t, n, req{path: "/disk/nc"}, 200, "HIT", "n=2 /disk/nc")
	})

	t.Run("CacheMethod", func(t *testing.T) {
		expectCache(t, n, req{method: "POST", path: "/disk/m"}, 200, "BYPASS", "n=1 /disk/m")
		expectCache(t, n, req{method: "POST", path: "/disk/m"}, 200, "BYPASS", "n=2 /disk/m")
		expectCache(t, n, req{method: "POST", path: "/post/m"}, 200, "MISS", "n=1 /post/m")
		expectCache(t, n, req{method: "POST", path: "/post/m"}, 200, "HIT", "n=1 /post/m")
		expectCache(t, n, req{path: "/post/m"}, 200, "BYPASS", "n=2 /post/m")
	})

	t.Run("CacheHTTPStatus", func(t *testing.T) {
		expectCache(t, n, req{path: "/disk/s404"}, 404, "MISS", "missing")
		expectCache(t, n, req{path: "/disk/s404"}, 404, "HIT", "missing")
		expectCache(t, n, req{path: "/disk/s500"}, 500, "MISS", "broken")
		expectCache(t, n, req{path: "/disk/s500"}, 500, "MISS", "broken")
		expectCache(t, n, req{method: "POST", path: "/post/s500"}, 500, "MISS", "broken")
		expectCache(t, n, req{method: "POST", path: "/post/s500"}, 500, "HIT", "broken")
	})

	t.Run("HideCacheHeaders", func(t *testing.T) {
		for _, cache := range []string{"MISS", "HIT"} {
			r := expectCache(t, n, req{path: "/hide/maxage"}, 200, cache, "fresh")
			if _, ok := r.Header["Cache-Control"]; ok {
				t.Fatalf("%s: Cache-Control %v", cache, r.Header)
			}
			if _, ok := r.Header["Expires"]; ok {
				t.Fatalf("%s: Expires %v", cache, r.Header)
			}
		}
		r := expectCache(t, n, req{path: "/disk/maxage"}, 200, "MISS", "fresh")
		if r.Header.Get("Cache-Control") != "max-age=60" {
			t.Fatalf("Cache-Control not passed without hide_cache_headers: %v", r.Header)
		}
		// max-age=60 outlives the 1 s default TTL
		time.Sleep(1100 * time.Millisecond)
		expectCache(t, n, req{path: "/disk/maxage"}, 200, "HIT", "fresh")
	})

	t.Run("Collapse", func(t *testing.T) {
		var wg sync.WaitGroup
		var hits, bad atomic.Int32
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := send(t, n, req{path: "/disk/slow"})
				if r.Status != 200 || r.Body != "slow" {
					bad.Add(1)
				}
				if cacheStatusOf(r) == "HIT" {
					hits.Add(1)
				}
			}()
		}
		wg.Wait()
		if bad.Load() != 0 || o.count("/disk/slow") != 1 || hits.Load() != 9 {
			t.Fatalf("origin saw %d requests, %d hits, %d bad answers", o.count("/disk/slow"), hits.Load(), bad.Load())
		}
	})

	t.Run("Head", func(t *testing.T) {
		r := send(t, n, req{method: "HEAD", path: "/disk/maxage"})
		if r.Status != 200 || cacheStatusOf(r) != "HIT" || r.Body != "" || o.count("/disk/maxage") != 1 {
			t.Fatalf("HEAD: %d %q %q", r.Status, cacheStatusOf(r), r.Body)
		}
	})

	t.Run("LargeOnDisk", func(t *testing.T) {
		want := sha256.New()
		buf := make([]byte, 32<<10)
		for i := 0; i*len(buf) < largeSize; i++ {
			want.Write(largeChunk(i, buf))
		}
		wantSum := hex.EncodeToString(want.Sum(nil))
		for _, cache := range []string{"MISS", "HIT"} {
			resp, err := noRedirect.Get(n.proxyURL("/disk/large"))
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			size, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || resp.Header.Get("Apisix-Cache-Status") != cache ||
				size != largeSize || hex.EncodeToString(h.Sum(nil)) != wantSum {
				t.Fatalf("%s: %d %q, %d bytes, err %v", cache, resp.StatusCode, resp.Header.Get("Apisix-Cache-Status"), size, err)
			}
		}
		if o.count("/disk/large") != 1 {
			t.Fatalf("origin saw %d requests", o.count("/disk/large"))
		}
		t.Logf("gateway memory after the 50 MiB miss and hit: %s", procMem(n))
	})

	// Restart: the disk zone's index is rebuilt from its files.
	t.Run("Restart", func(t *testing.T) {
		n.stop()
		n.start()
		waitFor(t, n.proxyURL("/_ready"), func(st int, _ string) bool { return st == 200 })
		expectCache(t, n, req{path: "/disk/maxage"}, 200, "HIT", "fresh")
		expectCache(t, n, req{path: "/mem/a"}, 200, "MISS", "n=2 /mem/a")
		if o.count("/disk/maxage") != 1 {
			t.Fatalf("origin saw %d requests", o.count("/disk/maxage"))
		}
	})

	t.Run("UndefinedZone", func(t *testing.T) {
		r := do(t, "PUT", n.adminURL("/routes/bad"), configuredKey,
			route("/bad", `{"cache_zone":"nope"}`))
		want := `{"error_msg":"failed to check the configuration of plugin proxy-cache err: cache_zone nope not found"}`
		if r.Status != 400 || strings.TrimSpace(r.Body) != want {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		r = do(t, "PUT", n.adminURL("/routes/bad"), configuredKey,
			route("/bad", `{"cache_strategy":"memory"}`))
		want = `{"error_msg":"failed to check the configuration of plugin proxy-cache err: invalid or empty cache_zone for cache_strategy: memory"}`
		if r.Status != 400 || strings.TrimSpace(r.Body) != want {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}
