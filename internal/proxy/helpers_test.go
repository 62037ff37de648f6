package proxy

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/upstream"
)

// staticSnapshots serves one fixed snapshot.
type staticSnapshots struct {
	s atomic.Pointer[snapshot.Snapshot]
}

func (f *staticSnapshots) Load() *snapshot.Snapshot { return f.s.Load() }

// testRoute is a route for buildSnapshot: uri, upstream nodes ("host:port" list) and tweaks.
type testRoute struct {
	id, uri   string
	hosts     []string
	up        *model.Upstream
	timeout   *model.Timeout
	websocket bool
	plugin    string // Unsupported
	upOpts    upstream.Options
}

func nodes(addrs ...string) model.Nodes {
	var ns model.Nodes
	for _, a := range addrs {
		h, p, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(p)
		ns = append(ns, model.Node{Host: h, Port: port, Weight: 1})
	}
	return ns
}

func buildSnapshot(t testing.TB, routes ...testRoute) *snapshot.Snapshot {
	t.Helper()
	var rr []router.Route
	snap := &snapshot.Snapshot{Routes: map[string]*snapshot.Route{}}
	for _, tr := range routes {
		r := &snapshot.Route{ID: tr.id, Spec: &model.Route{URI: tr.uri}, Timeout: tr.timeout,
			EnableWebsocket: tr.websocket, Unsupported: tr.plugin}
		if tr.up != nil {
			u, err := upstream.NewWithOptions("/apisix/routes/"+tr.id+"#upstream", tr.up, tr.upOpts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(u.Close)
			r.Upstream = u
		}
		snap.Routes[tr.id] = r
		rr = append(rr, router.Route{ID: tr.id, URIs: []string{tr.uri}, Hosts: tr.hosts, Value: r})
	}
	rt, errs := router.Build(rr, router.Options{Mode: router.HostURI})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	snap.Router = rt
	return snap
}

// startProxy runs a proxy on a loopback port serving routes; it returns its address.
func startProxy(t testing.TB, o Options, routes ...testRoute) (*Server, string) {
	t.Helper()
	src := &staticSnapshots{}
	src.s.Store(buildSnapshot(t, routes...))
	o.Addrs = []string{"127.0.0.1:0"}
	o.Snapshots = src
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	o.ServerName = "sluice/test"
	s, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	return s, s.Addrs()[0].String()
}

// origin starts an HTTP origin on loopback.
func origin(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// rawExchange sends raw bytes and reads one response; closed reports whether the server then
// closed the connection.
func rawExchange(t testing.TB, addr, raw string) (resp *http.Response, body string, closed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var one [1]byte
	_, err = br.Read(one[:])
	var ne net.Error
	closed = err != nil && !(errors.As(err, &ne) && ne.Timeout())
	return resp, string(b), closed
}
