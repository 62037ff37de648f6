package forwardauth

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// authServer is a real auth service on loopback: it records the last request and answers
// as its handler says.
type authServer struct {
	*httptest.Server
	last  atomic.Pointer[seen]
	conns atomic.Int32
}

type seen struct {
	method string
	header http.Header
	body   string
}

func newAuthServer(t *testing.T, tls bool, h http.HandlerFunc) *authServer {
	t.Helper()
	s := &authServer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.last.Store(&seen{method: r.Method, header: r.Header.Clone(), body: string(b)})
		h(w, r)
	})
	s.Server = httptest.NewUnstartedServer(handler)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func newPlugin(t *testing.T, conf string) *ForwardAuth {
	t.Helper()
	inst, err := New(json.RawMessage(conf), plugin.Env{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := inst.(*ForwardAuth)
	t.Cleanup(f.Close)
	return f
}

func clientReq() *plugintest.Ctx {
	c := plugintest.New()
	c.MethodV = "PUT"
	c.Path = "/orders/1"
	c.Query.Set("x", "y")
	c.HostV = "api.example.com"
	c.SchemeV = "https"
	c.Remote = netip.MustParseAddr("10.1.2.3")
	return c
}

func TestAuthRequest(t *testing.T) {
	s := newAuthServer(t, false, func(w http.ResponseWriter, r *http.Request) {})
	f := newPlugin(t, `{"uri":"`+s.URL+`/auth?k=v","request_headers":["Authorization","X-Forwarded-Host","X-Absent"],
		"extra_headers":{"X-Route":"$route_id-${arg_x}","X-Forwarded-Proto":"ws","x-forwarded-method":"lower","X-Num":42}}`)
	c := clientReq()
	c.Route = "r1"
	c.ReqHeader.Set("Authorization", "Bearer t")
	c.ReqHeader.Set("X-Forwarded-Host", "spoofed")
	c.ReqHeader.Set("Cookie", "not=forwarded")
	f.Access(c)
	if c.Exited() {
		t.Fatalf("exited %d %q", c.ExitStatus, c.ExitBody)
	}
	got := s.last.Load()
	if got.method != "GET" || got.body != "" {
		t.Errorf("auth request = %s %q, want GET without body", got.method, got.body)
	}
	want := map[string][]string{
		"X-Forwarded-Proto":  {"ws"}, // extra_headers spelled the same replaces it
		"X-Forwarded-Method": {"PUT", "lower"},
		"X-Forwarded-Host":   {"api.example.com"}, // request_headers never overrides a set one
		"X-Forwarded-Uri":    {"/orders/1?x=y"},
		"X-Forwarded-For":    {"10.1.2.3"},
		"X-Route":            {"r1-y"},
		"X-Num":              {"42"},
		"Authorization":      {"Bearer t"},
		"X-Absent":           nil,
		"Cookie":             nil,
		"Content-Encoding":   nil,
	}
	for k, v := range want {
		if g := got.header.Values(k); strings.Join(g, "|") != strings.Join(v, "|") {
			t.Errorf("auth request %s = %q, want %q", k, g, v)
		}
	}
}

func TestDecision(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		handler  http.HandlerFunc
		status   int // 0: let through
		body     string
		nilBody  bool
		respHdr  map[string]string
		upstream map[string][]string
	}{
		{name: "forward-auth.t: allowed, upstream_headers copied", conf: `"upstream_headers":["X-User-ID","X-Multi"]`,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-User-ID", "i-am-user")
				w.Header().Add("X-Multi", "a")
				w.Header().Add("X-Multi", "b")
				w.Header().Set("X-Other", "not copied")
			},
			upstream: map[string][]string{"X-User-Id": {"i-am-user"}, "X-Multi": {"a", "b"}, "X-Other": nil}},
		{name: "plugins.md §3 forward-auth: an upstream header the service lacks is deleted", conf: `"upstream_headers":["X-User-ID"]`,
			handler:  func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			upstream: map[string][]string{"X-User-Id": nil, "X-Spoof": {"kept"}}},
		{name: "forward-auth.t: denied with body and client_headers", conf: `"client_headers":["Location","X-Reason"]`,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "http://example.com/auth")
				w.Header().Set("X-Reason", "nope")
				w.Header().Set("X-Secret", "hidden")
				w.WriteHeader(403)
				io.WriteString(w, `{"error":"denied"}`)
			},
			status: 403, body: `{"error":"denied"}`,
			respHdr: map[string]string{"Location": "http://example.com/auth", "X-Reason": "nope", "X-Secret": ""}},
		{name: "forward-auth.t: redirects are relayed, not followed", conf: `"client_headers":["Location"]`,
			handler: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", 302) },
			status:  302, respHdr: map[string]string{"Location": "/login"}, body: "<a href=\"/login\">Found</a>.\n\n"},
		{name: "plugins.md §3 forward-auth: an empty denial body stays empty", conf: `"client_headers":["WWW-Authenticate"]`,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
				w.WriteHeader(401)
			},
			status: 401, body: "", respHdr: map[string]string{"WWW-Authenticate": `Basic realm="x"`}},
		{name: "plugins.md §3 forward-auth: a client header the service lacks is not set", conf: `"client_headers":["X-Reason"]`,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500); io.WriteString(w, "boom") },
			status:  500, body: "boom", respHdr: map[string]string{"X-Reason": ""}},
		{name: "plugins.md §3 forward-auth: 300 is a denial", conf: `"upstream_headers":["X-User-ID"]`,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(300) },
			status:  300, body: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAuthServer(t, false, tt.handler)
			f := newPlugin(t, `{"uri":"`+s.URL+`",`+tt.conf+`}`)
			c := clientReq()
			c.ReqHeader.Set("X-User-ID", "spoofed")
			c.ReqHeader.Set("X-Spoof", "kept")
			f.Access(c)
			if c.ExitStatus != tt.status || string(c.ExitBody) != tt.body {
				t.Fatalf("exit = %d %q, want %d %q", c.ExitStatus, c.ExitBody, tt.status, tt.body)
			}
			if tt.status != 0 && c.ExitBody == nil {
				t.Error("exit body is nil (nginx page), want the service's body")
			}
			for k, v := range tt.respHdr {
				if g := c.RespHdr.Get(k); g != v {
					t.Errorf("response %s = %q, want %q", k, g, v)
				}
			}
			for k, v := range tt.upstream {
				if g := c.ReqHeader.Values(k); strings.Join(g, "|") != strings.Join(v, "|") {
					t.Errorf("upstream %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestPost(t *testing.T) {
	s := newAuthServer(t, false, func(w http.ResponseWriter, r *http.Request) {})
	f := newPlugin(t, `{"uri":"`+s.URL+`","request_method":"POST","max_req_body_size":8}`)

	c := clientReq()
	c.ReqBody = []byte("12345678")
	c.ReqHeader.Set("Content-Encoding", "identity")
	c.ReqHeader.Set("Expect", "100-continue")
	f.Access(c)
	if c.Exited() {
		t.Fatalf("exited %d", c.ExitStatus)
	}
	got := s.last.Load()
	if got.method != "POST" || got.body != "12345678" || got.header.Get("Content-Encoding") != "identity" || got.header.Get("Expect") != "" {
		t.Errorf("auth request = %s %q %v", got.method, got.body, got.header)
	}

	c = clientReq()
	f.Access(c)
	if got := s.last.Load(); c.Exited() || got.method != "POST" || got.body != "" || got.header.Get("Transfer-Encoding") != "" {
		t.Errorf("empty POST: exited %v, auth request %s %q %v", c.Exited(), got.method, got.body, got.header)
	}

	for name, prep := range map[string]func(c *plugintest.Ctx){
		"Content-Length": func(c *plugintest.Ctx) { c.ReqHeader.Set("Content-Length", "9"); c.ReqBody = []byte("1") },
		"read size":      func(c *plugintest.Ctx) { c.ReqBody = []byte("123456789") },
	} {
		c := clientReq()
		prep(c)
		s.last.Store(nil)
		f.Access(c)
		if c.ExitStatus != 413 || c.ExitBody != nil || s.last.Load() != nil {
			t.Errorf("%s over max_req_body_size: exit %d %q, auth called %v", name, c.ExitStatus, c.ExitBody, s.last.Load() != nil)
		}
	}
}

func TestUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	slow := newAuthServer(t, false, func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) })
	tests := []struct {
		name   string
		conf   string
		status int
	}{
		{"forward-auth.t: refused → 403", `{"uri":"` + deadURL + `"}`, 403},
		{"forward-auth.t: status_on_error", `{"uri":"` + deadURL + `","status_on_error":503}`, 503},
		{"forward-auth.t: allow_degradation", `{"uri":"` + deadURL + `","allow_degradation":true}`, 0},
		{"forward-auth.t: timeout", `{"uri":"` + slow.URL + `","timeout":50}`, 403},
		{"plugins.md §3 forward-auth: unusable uri fails each request", `{"uri":"not a url"}`, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPlugin(t, tt.conf)
			c := clientReq()
			f.Access(c)
			if c.ExitStatus != tt.status || c.ExitBody != nil {
				t.Errorf("exit = %d %q, want %d without body", c.ExitStatus, c.ExitBody, tt.status)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) {}
	t.Run("keepalive reuses one connection, Close drops it", func(t *testing.T) {
		s := newAuthServer(t, false, ok)
		f := newPlugin(t, `{"uri":"`+s.URL+`"}`)
		for range 3 {
			f.Access(clientReq())
		}
		if n := s.conns.Load(); n != 1 {
			t.Errorf("connections = %d, want 1", n)
		}
		f.Close()
		f.Access(clientReq())
		if n := s.conns.Load(); n != 2 {
			t.Errorf("connections after Close = %d, want 2", n)
		}
	})
	t.Run("keepalive false opens a connection per request", func(t *testing.T) {
		s := newAuthServer(t, false, ok)
		f := newPlugin(t, `{"uri":"`+s.URL+`","keepalive":false}`)
		for range 3 {
			f.Access(clientReq())
		}
		if n := s.conns.Load(); n != 3 {
			t.Errorf("connections = %d, want 3", n)
		}
	})
	t.Run("ssl_verify", func(t *testing.T) {
		s := newAuthServer(t, true, ok)
		c := clientReq()
		newPlugin(t, `{"uri":"`+s.URL+`"}`).Access(c)
		if c.ExitStatus != 403 {
			t.Errorf("self-signed with ssl_verify: exit %d, want 403", c.ExitStatus)
		}
		c = clientReq()
		newPlugin(t, `{"uri":"`+s.URL+`","ssl_verify":false}`).Access(c)
		if c.Exited() {
			t.Errorf("ssl_verify false: exit %d", c.ExitStatus)
		}
	})
	t.Run("keepalive_pool caps idle connections", func(t *testing.T) {
		f := newPlugin(t, `{"uri":"http://127.0.0.1:1","keepalive_pool":2,"keepalive_timeout":1500}`)
		if f.transport.MaxIdleConnsPerHost != 2 || f.transport.IdleConnTimeout != 1500*time.Millisecond {
			t.Errorf("transport = %d idle per host, %v idle timeout", f.transport.MaxIdleConnsPerHost, f.transport.IdleConnTimeout)
		}
	})
}
