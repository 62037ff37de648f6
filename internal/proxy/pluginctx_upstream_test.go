package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// upstreamTestPlugin picks the upstream by id from X-Up, answers with a streamed body of
// X-Stream bytes, and records what RequestInfo reported in the log phase.
type upstreamTestPlugin struct{}

type infoSeen struct {
	addr     string
	status   int
	latency  bool // UpstreamLatency >= 0
	reqSize  int64
	respSize int64
}

var (
	infoMu   sync.Mutex
	lastInfo infoSeen
)

func (upstreamTestPlugin) Access(c plugin.Ctx) {
	if id, ok := c.Header("X-Up"); ok {
		if !c.(plugin.UpstreamSetter).SetUpstreamID(string(id)) {
			c.Exit(http.StatusInternalServerError, []byte("no upstream "+string(id)))
		}
	}
	if n, ok := c.Header("X-Stream"); ok {
		size, _ := strconv.Atoi(string(n))
		status := http.StatusOK
		if st, ok := c.Header("X-Stream-Status"); ok {
			status, _ = strconv.Atoi(string(st))
		}
		announced := int64(size)
		if _, ok := c.Header("X-Stream-Unknown"); ok {
			announced = -1
		}
		c.SetRespHeader("Content-Type", "application/json")
		c.(plugin.StreamExiter).ExitStream(status, strings.NewReader(strings.Repeat("s", size)), announced)
	}
}

func (upstreamTestPlugin) Log(c plugin.Ctx) {
	infoMu.Lock()
	defer infoMu.Unlock()
	lastInfo = infoSeen{addr: c.UpstreamAddr(), status: c.UpstreamStatus(), latency: c.UpstreamLatency() >= 0,
		reqSize: c.RequestSize(), respSize: c.ResponseSize()}
}

func takeInfo() infoSeen {
	infoMu.Lock()
	defer infoMu.Unlock()
	i := lastInfo
	lastInfo = infoSeen{}
	return i
}

func init() {
	plugin.Register(plugin.Definition{Name: "upstream-test", Priority: 3, New: func(json.RawMessage, plugin.Env) (any, error) {
		return upstreamTestPlugin{}, nil
	}})
}

// A plugin's upstream choice (by id) and its streamed exit work on both engines, and
// RequestInfo reports the upstream that answered and the sizes.
func TestPluginUpstreamAndStreamExit(t *testing.T) {
	a := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("route-upstream")) })
	b := origin(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); w.Write([]byte("chosen")) })
	snap := buildSnapshot(t, testRoute{id: "u", uri: "/u", up: &model.Upstream{Nodes: nodes(a)}})
	chosen, err := upstream.New("/apisix/upstreams/b", &model.Upstream{Nodes: nodes(b)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chosen.Close)
	snap.Upstreams = map[string]*upstream.Upstream{"b": chosen}
	snap.Routes["u"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "upstream-test", pluginrt.FromRoute, `{}`)})
	snap.Plugins = &pluginrt.Set{}
	_, addr := serveSnapshot(t, snap)

	both(t, func(t *testing.T, c *http.Client) {
		resp, got := readAll(t, c, mustRequest(t, "GET", "http://"+addr+"/u", nil))
		if resp.StatusCode != 200 || got != "route-upstream" {
			t.Errorf("route's upstream: %d %q", resp.StatusCode, got)
		}
		if i := takeInfo(); i.addr != a || i.status != 200 || !i.latency || i.reqSize <= 0 || i.respSize < int64(len(got)) {
			t.Errorf("request info: %+v (node %s)", i, a)
		}
		req := mustRequest(t, "GET", "http://"+addr+"/u", nil)
		req.Header.Set("X-Up", "b")
		resp, got = readAll(t, c, req)
		if resp.StatusCode != 201 || got != "chosen" {
			t.Errorf("chosen upstream: %d %q", resp.StatusCode, got)
		}
		if i := takeInfo(); i.addr != b || i.status != 201 {
			t.Errorf("request info after the choice: %+v (node %s)", i, b)
		}
		req = mustRequest(t, "GET", "http://"+addr+"/u", nil)
		req.Header.Set("X-Up", "missing")
		if resp, got = readAll(t, c, req); resp.StatusCode != 500 || got != "no upstream missing" {
			t.Errorf("unknown id: %d %q", resp.StatusCode, got)
		}
		req = mustRequest(t, "GET", "http://"+addr+"/u", nil)
		req.Header.Set("X-Stream", "300000")
		resp, got = readAll(t, c, req)
		if resp.StatusCode != 200 || len(got) != 300000 || resp.ContentLength != 300000 {
			t.Errorf("streamed exit: %d, %d bytes, length %d", resp.StatusCode, len(got), resp.ContentLength)
		}
		if i := takeInfo(); i.addr != "" || i.latency || i.respSize < 300000 {
			t.Errorf("request info after a streamed exit: %+v", i)
		}
	})
}

// A streamed exit keeps the plugin's Content-Type whatever its status, is sent for an
// unmatched request answered by a global rule, and reaches an HTTP/1.0 client delimited by
// the connection's end when its length is unknown.
func TestStreamExitEdges(t *testing.T) {
	a := origin(t, func(w http.ResponseWriter, r *http.Request) {})
	snap := buildSnapshot(t, testRoute{id: "u", uri: "/u", up: &model.Upstream{Nodes: nodes(a)}})
	snap.Routes["u"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "upstream-test", pluginrt.FromRoute, `{}`)})
	snap.Plugins = &pluginrt.Set{Global: pluginrt.GlobalChain([][]*pluginrt.Instance{
		{compileNamed(t, "upstream-test", pluginrt.FromGlobalRule, `{}`)}}, nil)}
	_, addr := serveSnapshot(t, snap)

	both(t, func(t *testing.T, c *http.Client) {
		for _, path := range []string{"/u", "/unmatched"} {
			req := mustRequest(t, "GET", "http://"+addr+path, nil)
			req.Header.Set("X-Stream", "1000")
			req.Header.Set("X-Stream-Status", "404")
			resp, got := readAll(t, c, req)
			if resp.StatusCode != 404 || len(got) != 1000 || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s: %d, %d bytes, %q", path, resp.StatusCode, len(got), resp.Header.Get("Content-Type"))
			}
		}
	})

	resp, body, closed := rawExchange(t, addr, "GET /u HTTP/1.0\r\nX-Stream: 5000\r\nX-Stream-Unknown: 1\r\n\r\n")
	if resp.StatusCode != 200 || len(body) != 5000 || len(resp.TransferEncoding) != 0 || !closed {
		t.Errorf("HTTP/1.0 unknown length: %d, %d bytes, te %v, closed %v", resp.StatusCode, len(body), resp.TransferEncoding, closed)
	}
}
