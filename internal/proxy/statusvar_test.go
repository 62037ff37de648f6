package proxy

import (
	"net/http"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/plugin"
)

// TestStatusVarLookup: $status is the response status as it stands when it is read.
func TestStatusVarLookup(t *testing.T) {
	v := plugin.ParseVar("status")
	if v.Kind != plugin.VarStatus || v.Name != "status" {
		t.Fatalf("ParseVar(status) = %+v", v)
	}
	s, err := Listen(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fc fasthttp.RequestCtx
	rc := acquireReqCtx(s)
	defer releaseReqCtx(rc)
	rc.fc = &fc
	fc.SetStatusCode(404)
	if got, ok := rc.Lookup(&v); !ok || string(got) != "404" {
		t.Errorf("h1 $status = %q, %v; want 404", got, ok)
	}
	rc.SetStatus(503)
	if got, ok := rc.Lookup(&v); !ok || string(got) != "503" {
		t.Errorf("h1 $status after SetStatus = %q, %v; want 503", got, ok)
	}

	hc := &h2Ctx{status: 418}
	if got, ok := hc.Lookup(&v); !ok || string(got) != "418" {
		t.Errorf("h2 $status = %q, %v; want 418", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() { rc.Lookup(&v); hc.Lookup(&v) }); n != 0 {
		t.Errorf("$status lookup allocates %v times per run", n)
	}
}

// TestStatusVarResponseRewrite: response-rewrite's header values resolve $status to the
// upstream's status, or to its own status_code, on HTTP/1.1 and h2c.
func TestStatusVarResponseRewrite(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("made"))
	})
	snap := buildSnapshot(t,
		testRoute{id: "up", uri: "/up", up: &model.Upstream{Nodes: nodes(up)}},
		testRoute{id: "own", uri: "/own", up: &model.Upstream{Nodes: nodes(up)}},
	)
	snap.Plugins = &pluginrt.Set{}
	snap.Routes["up"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "response-rewrite", pluginrt.FromRoute,
		`{"headers":{"set":{"X-Status":"$status","X-Both":"s=$status u=$uri"}}}`)})
	snap.Routes["own"].Chain = pluginrt.NewChain([]*pluginrt.Instance{compileNamed(t, "response-rewrite", pluginrt.FromRoute,
		`{"status_code":202,"headers":{"add":["X-Status: $status"]}}`)})
	_, addr := serveSnapshot(t, snap)

	for _, eng := range []struct {
		name string
		c    *http.Client
	}{{"http1", &http.Client{}}, {"h2c", h2c()}} {
		t.Run(eng.name, func(t *testing.T) {
			resp, body := readAll(t, eng.c, mustRequest(t, "GET", "http://"+addr+"/up", nil))
			if resp.StatusCode != 201 || body != "made" || resp.Header.Get("X-Status") != "201" ||
				resp.Header.Get("X-Both") != "s=201 u=/up" {
				t.Errorf("upstream status: %d %q %v", resp.StatusCode, body, resp.Header)
			}
			resp, _ = readAll(t, eng.c, mustRequest(t, "GET", "http://"+addr+"/own", nil))
			if resp.StatusCode != 202 || resp.Header.Get("X-Status") != "202" {
				t.Errorf("status_code: %d %v", resp.StatusCode, resp.Header)
			}
		})
	}
}
