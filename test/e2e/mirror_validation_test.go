package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// proxy-mirror and request-validation through the real binary (plugins.md: proxy-mirror,
// request-validation).

// copyRecorder is a mirror target: it records every copy it receives, by path; paths
// starting with /slow answer after 5 s.
type copyRecorder struct {
	*originServer
	mu     sync.Mutex
	copies []seen
}

func newCopyRecorder(t *testing.T) *copyRecorder {
	t.Helper()
	rec := &copyRecorder{}
	stop := make(chan struct{})
	rec.originServer = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.copies = append(rec.copies, seen{r.Method, r.RequestURI, r.Host, r.Header, string(b)})
		rec.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/slow") {
			select {
			case <-time.After(5 * time.Second):
			case <-stop:
			}
		}
		io.WriteString(w, "mirror")
	})
	t.Cleanup(func() { close(stop) }) // before the origin's Close, which waits for handlers
	return rec
}

// matching returns the copies whose URI starts with prefix.
func (rec *copyRecorder) matching(prefix string) []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []seen
	for _, s := range rec.copies {
		if strings.HasPrefix(s.URI, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// waitCopies waits until want copies under prefix arrived (or 10 s passed) and returns them.
func (rec *copyRecorder) waitCopies(prefix string, want int) []seen {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := rec.matching(prefix)
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mirrorPlugin(rec *copyRecorder, extra string) string {
	return fmt.Sprintf(`{"proxy-mirror":{"host":"http://%s"%s}}`, rec.addr(), extra)
}

func TestProxyMirror(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)
	rec := newCopyRecorder(t)
	dead := refused(t)

	putAll(t, n, o, [][2]string{
		{"/routes/pm-plain", routeJSON(o, "/pm/plain", mirrorPlugin(rec, ""))},
		{"/routes/pm-replace", routeJSON(o, "/pm/replace", mirrorPlugin(rec, `,"path":"/mp"`))},
		{"/routes/pm-prefix", routeJSON(o, "/pm/prefix", mirrorPlugin(rec, `,"path":"/pre","path_concat_mode":"prefix"`))},
		{"/routes/pm-low", routeJSON(o, "/pm/low", mirrorPlugin(rec, `,"sample_ratio":0.00001`))},
		{"/routes/pm-full", routeJSON(o, "/pm/full", mirrorPlugin(rec, `,"sample_ratio":1`))},
		{"/routes/pm-slow", routeJSON(o, "/pm/slow", mirrorPlugin(rec, `,"path":"/slow"`))},
		{"/routes/pm-dead", routeJSON(o, "/pm/dead", fmt.Sprintf(`{"proxy-mirror":{"host":"http://%s"}}`, dead))},
		{"/routes/pm-denied", routeJSON(o, "/pm/denied", fmt.Sprintf(`{"proxy-mirror":{"host":"http://%s"},`+
			`"ip-restriction":{"blacklist":["127.0.0.1"]}}`, rec.addr()))},
	})

	t.Run("copy", func(t *testing.T) {
		r := send(t, n, req{method: "POST", path: "/pm/plain?a=1&b=2", host: "api.test",
			header: []string{"X-Test: yes", "Content-Type: text/plain"}, body: "hello mirror"})
		if r.Status != 200 || originSaw(t, r).Body != "hello mirror" {
			t.Fatalf("main request: %d %q", r.Status, r.Body)
		}
		got := rec.waitCopies("/pm/plain", 1)
		if len(got) != 1 {
			t.Fatalf("copies: %d, want 1", len(got))
		}
		c := got[0]
		if c.Method != "POST" || c.URI != "/pm/plain?a=1&b=2" || c.Host != "api.test" || c.Body != "hello mirror" ||
			c.Header.Get("X-Test") != "yes" || c.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("copy = %+v", c)
		}
	})
	t.Run("path replace", func(t *testing.T) {
		send(t, n, req{path: "/pm/replace?q=1"})
		if got := rec.waitCopies("/mp", 1); len(got) != 1 || got[0].URI != "/mp?q=1" || got[0].Method != "GET" {
			t.Errorf("copies %+v, want one GET /mp?q=1", got)
		}
	})
	t.Run("path prefix", func(t *testing.T) {
		send(t, n, req{method: "PUT", path: "/pm/prefix?q=2", body: "x"})
		if got := rec.waitCopies("/pre", 1); len(got) != 1 || got[0].URI != "/pre/pm/prefix?q=2" || got[0].Body != "x" {
			t.Errorf("copies %+v, want one /pre/pm/prefix?q=2", got)
		}
	})
	t.Run("not mirrored when access rejects", func(t *testing.T) {
		// ip-restriction (access) ends the request after proxy-mirror's rewrite ran: as with
		// nginx's mirror, which runs after the access phase, no copy is sent
		if r := send(t, n, req{path: "/pm/denied"}); r.Status != 403 {
			t.Fatalf("status %d, want 403", r.Status)
		}
		send(t, n, req{path: "/pm/plain?after=denied"})
		if got := rec.waitCopies("/pm/plain?after=denied", 1); len(got) != 1 {
			t.Fatalf("the request after the denied one was not mirrored")
		}
		if got := rec.matching("/pm/denied"); len(got) != 0 {
			t.Errorf("denied request mirrored: %+v", got)
		}
	})
	t.Run("sample ratio", func(t *testing.T) {
		const reqs = 200
		for i := range reqs {
			if r := send(t, n, req{path: fmt.Sprintf("/pm/full?i=%d", i)}); r.Status != 200 {
				t.Fatalf("full %d: status %d", i, r.Status)
			}
			if r := send(t, n, req{path: fmt.Sprintf("/pm/low?i=%d", i)}); r.Status != 200 {
				t.Fatalf("low %d: status %d", i, r.Status)
			}
		}
		if got := len(rec.waitCopies("/pm/full", reqs)); got != reqs {
			t.Errorf("sample_ratio 1: %d copies of %d", got, reqs)
		}
		// expected 0.002 copies; P(more than 2) is negligible
		if got := len(rec.matching("/pm/low")); got > 2 {
			t.Errorf("sample_ratio 0.00001: %d copies of %d", got, reqs)
		}
	})
	t.Run("slow mirror does not delay", func(t *testing.T) {
		const mirrorDelay = 5 * time.Second
		for i := range 3 {
			start := time.Now()
			r := send(t, n, req{path: "/pm/slow"})
			took := time.Since(start)
			if r.Status != 200 || originSaw(t, r).URI != "/pm/slow" {
				t.Fatalf("main request %d: %d %q", i, r.Status, r.Body)
			}
			t.Logf("main request %d with a 5 s mirror: %v", i, took)
			if took >= mirrorDelay/2 {
				t.Errorf("main request %d took %v with a mirror answering after %v", i, took, mirrorDelay)
			}
		}
		if got := rec.waitCopies("/slow", 3); len(got) != 3 {
			t.Errorf("slow mirror got %d copies, want 3", len(got))
		}
	})
	t.Run("dead mirror", func(t *testing.T) {
		for range 5 {
			r := send(t, n, req{method: "POST", path: "/pm/dead", body: "b"})
			if r.Status != 200 || originSaw(t, r).Body != "b" {
				t.Fatalf("main request with a dead mirror: %d %q", r.Status, r.Body)
			}
		}
	})
	t.Run("admin rejects a host with a path", func(t *testing.T) {
		r := do(t, "PUT", n.adminURL("/routes/pm-bad"), configuredKey,
			routeJSON(o, "/pm/bad", `{"proxy-mirror":{"host":"http://127.0.0.1:1/path"}}`))
		if r.Status != 400 {
			t.Errorf("status %d, want 400: %s", r.Status, r.Body)
		}
	})
}

const rvBodySchema = `{"type":"object","required":["required_payload"],"properties":{` +
	`"required_payload":{"type":"string","minLength":2},"num":{"type":"integer","minimum":1}}}`

func TestRequestValidation(t *testing.T) {
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), ""), "")
	o := newMirror(t)
	putAll(t, n, o, [][2]string{
		{"/routes/rv-body", routeJSON(o, "/rv/body", `{"request-validation":{"body_schema":`+rvBodySchema+`}}`)},
		{"/routes/rv-custom", routeJSON(o, "/rv/custom", `{"request-validation":{"body_schema":`+rvBodySchema+
			`,"rejected_code":422,"rejected_msg":"customize reject message"}}`)},
		{"/routes/rv-header", routeJSON(o, "/rv/header", `{"request-validation":{"header_schema":`+
			`{"type":"object","required":["x-api-token"],"properties":{"x-api-token":{"type":"string","pattern":"^tok-"}}}}}`)},
		{"/routes/rv-small", routeJSON(o, "/rv/small", `{"request-validation":{"body_schema":`+rvBodySchema+`,"max_req_body_size":10}}`)},
	})
	jsonCT := "Content-Type: application/json"
	formCT := "Content-Type: application/x-www-form-urlencoded"
	runCases(t, n, []pcase{
		{name: "valid", req: req{method: "POST", path: "/rv/body", header: []string{jsonCT},
			body: `{"required_payload":"ok","num":3}`}, status: 200,
			check: func(t *testing.T, r response) {
				if got := originSaw(t, r).Body; got != `{"num":3,"required_payload":"ok"}` {
					t.Errorf("upstream body %q", got)
				}
			}},
		{name: "required", req: req{method: "POST", path: "/rv/body", header: []string{jsonCT}, body: `{"num":3}`},
			status: 400, body: `property "required_payload" is required`},
		{name: "nested", req: req{method: "POST", path: "/rv/body", header: []string{jsonCT}, body: `{"required_payload":"x"}`},
			status: 400, body: `property "required_payload" validation failed: string too short, expected at least 2, got 1`},
		{name: "type", req: req{method: "POST", path: "/rv/body", header: []string{jsonCT}, body: `{"required_payload":"ok","num":1.5}`},
			status: 400, body: `property "num" validation failed: wrong type: expected integer, got number`},
		{name: "duplicate key: last value validated and forwarded", req: req{method: "POST", path: "/rv/body",
			header: []string{jsonCT}, body: `{"required_payload":1,"required_payload":"last"}`}, status: 200,
			check: func(t *testing.T, r response) {
				if got := originSaw(t, r).Body; got != `{"required_payload":"last"}` {
					t.Errorf("upstream body %q, want the validated document", got)
				}
			}},
		{name: "duplicate key: last value rejected", req: req{method: "POST", path: "/rv/body",
			header: []string{jsonCT}, body: `{"required_payload":"first","required_payload":7}`}, status: 400,
			body: `property "required_payload" validation failed: wrong type: expected string, got number`},
		{name: "invalid json", req: req{method: "POST", path: "/rv/body", header: []string{jsonCT}, body: `{"required_payload":}`},
			status: 400, body: `Expected value but found T_OBJ_END at character 21`},
		{name: "no body", req: req{method: "POST", path: "/rv/body"}, status: 400, body: errPage(400, "Bad Request")},
		{name: "form valid", req: req{method: "POST", path: "/rv/body", header: []string{formCT},
			body: "required_payload=ok&x=1"}, status: 200,
			check: func(t *testing.T, r response) {
				if got := originSaw(t, r).Body; got != "required_payload=ok&x=1" {
					t.Errorf("form body changed: %q", got)
				}
			}},
		{name: "form invalid", req: req{method: "POST", path: "/rv/body", header: []string{formCT},
			body: "required_payload=o"}, status: 400,
			body: `property "required_payload" validation failed: string too short, expected at least 2, got 1`},
		{name: "custom code and message", req: req{method: "POST", path: "/rv/custom", header: []string{jsonCT}, body: `{}`},
			status: 422, body: "customize reject message"},
		{name: "custom message without body", req: req{method: "POST", path: "/rv/custom"},
			status: 422, body: "customize reject message"},
		{name: "header missing", req: req{path: "/rv/header"}, status: 400, body: `property "x-api-token" is required`},
		{name: "header pattern", req: req{path: "/rv/header", header: []string{"X-Api-Token: bad"}}, status: 400,
			body: `property "x-api-token" validation failed: failed to match pattern "^tok-" with "bad"`},
		{name: "header valid", req: req{path: "/rv/header", header: []string{"X-Api-Token: tok-1"}}, status: 200},
		{name: "body over max_req_body_size", req: req{method: "POST", path: "/rv/small", header: []string{jsonCT},
			body: `{"required_payload":"ok"}`}, status: 400, body: errPage(400, "Bad Request")},
	})

	t.Run("admin rejects an invalid schema", func(t *testing.T) {
		r := do(t, "PUT", n.adminURL("/routes/rv-bad"), configuredKey,
			routeJSON(o, "/rv/bad", `{"request-validation":{"body_schema":{"type":"nope"}}}`))
		if r.Status != 400 {
			t.Errorf("status %d, want 400: %s", r.Status, r.Body)
		}
		r = do(t, "PUT", n.adminURL("/routes/rv-bad"), configuredKey,
			routeJSON(o, "/rv/bad", `{"request-validation":{"rejected_code":400}}`))
		if r.Status != 400 {
			t.Errorf("conf without schemas: status %d, want 400: %s", r.Status, r.Body)
		}
	})
}
