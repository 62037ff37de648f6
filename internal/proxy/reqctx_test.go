package proxy

import (
	"net"
	"os"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/plugin"
)

func TestVarsLookup(t *testing.T) {
	hostname, _ := os.Hostname()
	s, err := Listen(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fc fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/a/%2e%2e/users/42?x=1&y=two")
	req.Header.SetHost("API.example.com:8080")
	req.Header.Set("X-Api-Key", "k1")
	req.Header.Set("X-Real-IP", "198.51.100.9")
	req.Header.Set("Cookie", "sid=abc; theme=dark")
	fc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)

	rc := acquireReqCtx(s)
	rc.fc = &fc
	rc.scheme = "http"
	rc.initAddrs(fc.RemoteAddr(), &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9080}, &fc.Request.Header)
	if !rc.normalize() {
		t.Fatal("normalize refused")
	}
	rc.params.Names = append(rc.params.Names, "id")
	rc.params.Values = append(rc.params.Values, []byte("42"))
	rc.route = &snapshot.Route{ID: "r1", Name: "users", ServiceID: "s1", Service: &model.Service{Name: "svc"}}

	for name, want := range map[string]string{
		"arg_y": "two", "http_x_api_key": "k1", "cookie_theme": "dark", "uri_param_id": "42",
		"uri": "/users/42", "request_uri": "/a/%2e%2e/users/42?x=1&y=two", "query_string": "x=1&y=two",
		"host": "api.example.com", "remote_addr": "198.51.100.9", "remote_port": "", // nginx's realip: the header's port, none here
		"server_addr": "10.0.0.1", "server_port": "9080", "request_method": "POST", "scheme": "http",
		"server_protocol": "HTTP/1.1", "route_id": "r1", "route_name": "users", "service_id": "s1",
		"service_name": "svc", "realip_remote_addr": "127.0.0.1", "is_args": "?",
		"server_name": "_", "hostname": hostname,
	} {
		v := plugin.ParseVar(name)
		got, ok := rc.Lookup(&v)
		if !ok || string(got) != want {
			t.Errorf("$%s = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"arg_missing", "http_x_missing", "cookie_none", "consumer_name"} {
		v := plugin.ParseVar(name)
		if got, ok := rc.Lookup(&v); ok {
			t.Errorf("$%s = %q, want absent", name, got)
		}
	}
	vars := []plugin.Var{plugin.ParseVar("arg_x"), plugin.ParseVar("http_x_api_key"),
		plugin.ParseVar("remote_addr"), plugin.ParseVar("cookie_sid"), plugin.ParseVar("uri")}
	if n := testing.AllocsPerRun(100, func() {
		for i := range vars {
			rc.Lookup(&vars[i])
		}
	}); n != 0 {
		t.Errorf("Lookup allocates %v times per run", n)
	}
}
