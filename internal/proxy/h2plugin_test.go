package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
	_ "github.com/sluicegw/sluice/plugins/responserewrite"
)

// h2LogPlugin records what the log phase saw, per route.
type h2LogPlugin struct{}

type loggedRequest struct {
	status   int
	consumer string
}

var h2Logged = struct {
	sync.Mutex
	byRoute map[string]loggedRequest
}{byRoute: map[string]loggedRequest{}}

func (h2LogPlugin) Log(c plugin.Ctx) {
	var name string
	if cs := c.Consumer(); cs != nil {
		name = cs.Username
	}
	h2Logged.Lock()
	h2Logged.byRoute[c.RouteID()] = loggedRequest{c.Status(), name}
	h2Logged.Unlock()
}

func loggedFor(route string) loggedRequest {
	h2Logged.Lock()
	defer h2Logged.Unlock()
	return h2Logged.byRoute[route]
}

func init() {
	plugin.Register(plugin.Definition{Name: "h2-log-test", Priority: 0, New: func(json.RawMessage, plugin.Env) (any, error) {
		return h2LogPlugin{}, nil
	}})
}

func compileNamed(t testing.TB, name string, src pluginrt.Source, conf string) *pluginrt.Instance {
	t.Helper()
	def, ok := plugin.Lookup(name)
	if !ok || def.New == nil {
		t.Fatalf("plugin %s is not in this build", name)
	}
	in, err := pluginrt.Compile(def, json.RawMessage(conf), src, plugin.Env{Parent: "/apisix/routes/test"})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return in
}

// serveSnapshot runs a proxy serving snap (swappable through the returned source).
func serveSnapshot(t testing.TB, snap *snapshot.Snapshot) (*staticSnapshots, string) {
	t.Helper()
	src := &staticSnapshots{}
	src.s.Store(snap)
	s, err := Listen(Options{Addrs: []string{"127.0.0.1:0"}, Snapshots: src, ServerName: "sluice/test"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	return src, s.Addrs()[0].String()
}

// TestPluginCtxH2SameAsHTTP1: the plugin chains of TestPluginCtxHTTP1 give the same answers
// over h2c as over HTTP/1.1 (request rewriting, exits, streamed and buffered body filters,
// response headers set in rewrite kept on the upstream's response, body buffering), and
// global rules run on unmatched h2c requests before the 404.
func TestPluginCtxH2SameAsHTTP1(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.Header.Get("X-Plugin")+" "+r.URL.RequestURI()+" "+string(b))
		if r.URL.Path == "/big" {
			w.Write([]byte(big))
			return
		}
		w.Write([]byte("origin"))
	})
	snap := buildSnapshot(t,
		testRoute{id: "rw", uri: "/rw", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "big", uri: "/big", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "exit", uri: "/exit", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "exitbody", uri: "/exitbody", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "body", uri: "/body", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "down", uri: "/down", up: &model.Upstream{Nodes: nodes(refusedAddr(t))}},
	)
	chain := func(conf string) *pluginrt.Chain {
		return pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromRoute, conf),
			compileNamed(t, "h2-log-test", pluginrt.FromRoute, `{}`)})
	}
	snap.Routes["rw"].Chain = chain(`{"uri":"/rewritten","suffix":"+sfx","set_arg":"a"}`)
	snap.Routes["big"].Chain = chain(`{"suffix":"+sfx"}`)
	snap.Routes["exit"].Chain = chain(`{"exit":403}`)
	snap.Routes["exitbody"].Chain = chain(`{"exit":401,"exit_body":true,"suffix":"+sfx"}`)
	snap.Routes["body"].Chain = chain(`{"upper_body":true}`)
	snap.Routes["down"].Chain = chain(`{}`)
	snap.Plugins = &pluginrt.Set{}
	src, addr := serveSnapshot(t, snap)

	h1, h2 := &http.Client{Timeout: 10 * time.Second}, h2c()
	compare := func(method, path, body string) (*http.Response, string) {
		t.Helper()
		r1, b1 := readAll(t, h1, mustRequest(t, method, "http://"+addr+path, strings.NewReader(body)))
		r2, b2 := readAll(t, h2, mustRequest(t, method, "http://"+addr+path, strings.NewReader(body)))
		if r2.ProtoMajor != 2 {
			t.Fatalf("%s: client spoke %s", path, r2.Proto)
		}
		if r1.StatusCode != r2.StatusCode || b1 != b2 {
			t.Errorf("%s %s: HTTP/1.1 %d %q, HTTP/2 %d %q", method, path, r1.StatusCode, short(b1), r2.StatusCode, short(b2))
		}
		for _, h := range []string{"Content-Type", "X-Seen", "X-Resp", "X-HF", "Server"} {
			if r1.Header.Get(h) != r2.Header.Get(h) {
				t.Errorf("%s %s: %s: HTTP/1.1 %q, HTTP/2 %q", method, path, h, r1.Header.Get(h), r2.Header.Get(h))
			}
		}
		return r2, b2
	}

	resp, body := compare("GET", "/rw?q=1", "")
	if body != "origin+sfx" || resp.Header.Get("X-Seen") != "GET 1 /rewritten?q=1&a=v" ||
		resp.Header.Get("X-Resp") != "rewrite" || resp.Header.Get("X-HF") != "1" {
		t.Errorf("rw over h2c: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("Content-Length") != "" && resp.Header.Get("Content-Length") != "10" {
		t.Errorf("rw: Content-Length %q for a filtered body", resp.Header.Get("Content-Length"))
	}
	if l := loggedFor("rw"); l.status != 200 {
		t.Errorf("log phase on rw saw %+v", l)
	}
	resp, body = compare("GET", "/big", "")
	if body != big+"+sfx" || resp.Header.Get("X-HF") != "1" || resp.Header.Get("Content-Length") != "" {
		t.Errorf("big (streamed) over h2c: %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	resp, body = compare("GET", "/exit", "")
	if resp.StatusCode != 403 || !strings.Contains(body, "<title>403 Forbidden</title>") ||
		resp.Header.Get("X-Resp") != "rewrite" || resp.Header.Get("X-HF") != "1" || resp.Header.Get("X-Seen") != "" {
		t.Errorf("exit over h2c: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if l := loggedFor("exit"); l.status != 403 {
		t.Errorf("log phase on exit saw %+v", l)
	}
	resp, body = compare("GET", "/exitbody", "")
	if resp.StatusCode != 401 || body != "{\"message\":\"bye\"}\n+sfx" {
		t.Errorf("exit with body over h2c: %d %q", resp.StatusCode, body)
	}
	resp, _ = compare("POST", "/body", "hello")
	if resp.Header.Get("X-Seen") != "POST 1 /body HELLO" {
		t.Errorf("buffered body over h2c: %v", resp.Header)
	}
	resp, _ = compare("GET", "/down", "")
	if resp.StatusCode != 502 || loggedFor("down").status != 502 {
		t.Errorf("down: %d, log saw %+v", resp.StatusCode, loggedFor("down"))
	}

	// Global rules: they run for unmatched requests before the 404, and first on matched ones.
	snap2 := *snap
	snap2.Plugins = &pluginrt.Set{Global: pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromGlobalRule, `{"suffix":"+g"}`)})}
	src.s.Store(&snap2)
	resp, body = compare("GET", "/nothing", "")
	if resp.StatusCode != 404 || body != "{\"error_msg\":\"404 Route Not Found\"}\n+g" || resp.Header.Get("X-HF") != "1" {
		t.Errorf("unmatched over h2c: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if _, body = compare("GET", "/rw", ""); body != "origin+g+sfx" {
		t.Errorf("global + route body filters over h2c: %q", body)
	}
	snap3 := snap2
	snap3.Plugins = &pluginrt.Set{Global: pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromGlobalRule, `{"exit":429}`)})}
	src.s.Store(&snap3)
	if resp, _ = compare("GET", "/nothing", ""); resp.StatusCode != 429 {
		t.Errorf("global exit on unmatched over h2c: %d", resp.StatusCode)
	}
	snap4 := snap2
	snap4.Plugins = &pluginrt.Set{GlobalBroken: "global rule 1: plugin x is not available"}
	src.s.Store(&snap4)
	if resp, _ = compare("GET", "/nothing", ""); resp.StatusCode != 503 {
		t.Errorf("broken global rule on unmatched over h2c: %d", resp.StatusCode)
	}
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// TestH2KeyAuthAndResponseRewrite: real plugins over h2c. key-auth answers 401 without a
// key and attaches the consumer with one; response-rewrite changes the status, headers and
// body of the upstream's response.
func TestH2KeyAuthAndResponseRewrite(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Consumer-Seen", r.Header.Get("X-Consumer-Username"))
		w.Header().Set("X-Apikey-Seen", r.Header.Get("Apikey"))
		w.Header().Set("Etag", `"abc"`)
		io.WriteString(w, "original body")
	})
	snap := buildSnapshot(t,
		testRoute{id: "ka", uri: "/ka", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "rr", uri: "/rr", up: &model.Upstream{Nodes: nodes(up)}},
	)
	ka, _ := plugin.Lookup("key-auth")
	idx, err := ka.Index([]plugin.Credential{{Consumer: &plugin.Consumer{Username: "jack"}, Conf: json.RawMessage(`{"key":"jack-key"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	snap.Plugins = &pluginrt.Set{Indexes: map[string]any{"key-auth": idx}}
	snap.Routes["ka"].Chain = pluginrt.NewChain([]*pluginrt.Instance{
		compileNamed(t, "key-auth", pluginrt.FromRoute, `{"hide_credentials":true}`),
		compileNamed(t, "h2-log-test", pluginrt.FromRoute, `{}`),
	})
	snap.Routes["rr"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "response-rewrite", pluginrt.FromRoute,
		`{"status_code":202,"body":"rewritten over h2","headers":{"set":{"X-RR":"$uri"},"remove":["X-Apikey-Seen"]}}`)})
	_, addr := serveSnapshot(t, snap)
	c := h2c()

	resp, body := readAll(t, c, mustRequest(t, "GET", "http://"+addr+"/ka", nil))
	if resp.StatusCode != 401 || body != "{\"message\":\"Missing API key in request\"}\n" ||
		resp.Header.Get("WWW-Authenticate") == "" || resp.Header.Get("X-Consumer-Seen") != "" {
		t.Errorf("no key: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	req := mustRequest(t, "GET", "http://"+addr+"/ka", nil)
	req.Header.Set("apikey", "wrong")
	if resp, _ = readAll(t, c, req); resp.StatusCode != 401 {
		t.Errorf("wrong key: %d", resp.StatusCode)
	}
	req = mustRequest(t, "GET", "http://"+addr+"/ka", nil)
	req.Header.Set("apikey", "jack-key")
	resp, body = readAll(t, c, req)
	if resp.StatusCode != 200 || body != "original body" || resp.Header.Get("X-Consumer-Seen") != "jack" ||
		resp.Header.Get("X-Apikey-Seen") != "" {
		t.Errorf("with key: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if l := loggedFor("ka"); l.status != 200 || l.consumer != "jack" {
		t.Errorf("log phase saw %+v", l)
	}
	// the key in the query, hidden from the node
	resp, _ = readAll(t, c, mustRequest(t, "GET", "http://"+addr+"/ka?apikey=jack-key", nil))
	if resp.StatusCode != 200 || resp.Header.Get("X-Consumer-Seen") != "jack" {
		t.Errorf("key in query: %d %v", resp.StatusCode, resp.Header)
	}

	resp, body = readAll(t, c, mustRequest(t, "GET", "http://"+addr+"/rr", nil))
	if resp.StatusCode != 202 || body != "rewritten over h2" || resp.Header.Get("X-RR") != "/rr" ||
		resp.Header.Get("X-Apikey-Seen") != "" || resp.Header.Get("Etag") != "" {
		t.Errorf("response-rewrite: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" && cl != "17" {
		t.Errorf("response-rewrite: Content-Length %q", cl)
	}
}

// TestH2GRPCPlugins: on a grpc route, a plugin's request header reaches the node, its
// header filter edits the head, its body filter sees the streamed body with eof, and the
// node's trailers still arrive after it.
func TestH2GRPCPlugins(t *testing.T) {
	up := h2cOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("X-Plugin-Seen", r.Header.Get("X-Plugin"))
		w.WriteHeader(200)
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
		w.(http.Flusher).Flush()
		w.Write([]byte("-done"))
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		w.Header().Set(http.TrailerPrefix+"Grpc-Message", "fine")
	})
	snap := buildSnapshot(t, testRoute{id: "grpc", uri: "/svc/*", up: &model.Upstream{Scheme: "grpc", Nodes: nodes(up)}})
	snap.Routes["grpc"].Chain = pluginrt.NewChain([]*pluginrt.Instance{testInstance(t, pluginrt.FromRoute, `{"suffix":"+sfx"}`)})
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/svc/Echo", strings.NewReader("hello"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, body := readAll(t, h2c(), req)
	if resp.StatusCode != 200 || body != "hello-done+sfx" {
		t.Errorf("body: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Plugin-Seen") != "1" || resp.Header.Get("X-HF") != "1" || resp.Header.Get("X-Resp") != "rewrite" {
		t.Errorf("headers: %v", resp.Header)
	}
	if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != "fine" {
		t.Errorf("trailers: %v", resp.Trailer)
	}
}

// TestH2PluginRequestChanges: method, Host, URI, args, headers and a replaced body set by a
// plugin reach an HTTP/1.1 node from an h2c client.
func TestH2PluginRequestChanges(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Add")+"|"+r.Header.Get("X-Drop")+" "+string(b))
	})
	snap := buildSnapshot(t, testRoute{id: "1", uri: "/in", up: &model.Upstream{Nodes: nodes(up)}})
	snap.Routes["1"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "h2-rewrite-test", pluginrt.FromRoute, `{}`)})
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)
	req := mustRequest(t, "POST", "http://"+addr+"/in?keep=1&drop=2", strings.NewReader("client body"))
	req.Header.Set("X-Drop", "x")
	resp, body := readAll(t, h2c(), req)
	if want := "PUT up.example /out?keep=1&new=v X-1| replaced"; resp.StatusCode != 200 || body != want {
		t.Errorf("got %d %q, want %q", resp.StatusCode, body, want)
	}
}

type h2RewritePlugin struct{}

func (h2RewritePlugin) Rewrite(c plugin.Ctx) {
	c.SetMethod("PUT")
	c.SetUpstreamHost("up.example")
	c.SetURI("/out")
	c.DelArg("drop")
	c.SetArg("new", "v")
	c.AddHeader("X-Add", "X-1")
	c.DelHeader("X-Drop")
	c.SetBody([]byte("replaced"))
}

func init() {
	plugin.Register(plugin.Definition{Name: "h2-rewrite-test", Priority: 0, New: func(json.RawMessage, plugin.Env) (any, error) {
		return h2RewritePlugin{}, nil
	}})
}
