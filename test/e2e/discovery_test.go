package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluicegw/sluice/internal/discovery/dnstest"
	"github.com/sluicegw/sluice/internal/discovery/k8stest"
)

// discovery.dns through the real binary: an upstream with service_name and discovery_type dns
// is sent to the nodes of the SRV record, and follows the record when it changes (TTL 1 s);
// an unknown name answers 503.
func TestDNSDiscovery(t *testing.T) {
	z, dnsAddr := dnstest.Serve(t)
	one := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "one") })
	two := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "two") })
	portOf := func(o *originServer) string { return o.addr()[strings.LastIndexByte(o.addr(), ':')+1:] }
	z.Set("a.svc.test.", dns.TypeA, "a.svc.test. 1 IN A 127.0.0.1")
	z.Set("svc.test.", dns.TypeSRV, "svc.test. 1 IN SRV 1 10 "+portOf(one)+" a.svc.test.")

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  dns:\n    servers:\n      - %q\n", dnsAddr)), "")
	put(t, n, "/upstreams/d", `{"type":"roundrobin","service_name":"svc.test","discovery_type":"dns"}`)
	put(t, n, "/routes/d", `{"uri":"/d","upstream_id":"d"}`)
	put(t, n, "/routes/missing", `{"uri":"/missing","upstream":{"type":"roundrobin","service_name":"missing.test","discovery_type":"dns"}}`)
	waitFor(t, n.proxyURL("/d"), func(st int, b string) bool { return st == 200 && b == "one" })

	z.Set("svc.test.", dns.TypeSRV, "svc.test. 1 IN SRV 1 10 "+portOf(two)+" a.svc.test.")
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := do(t, "GET", n.proxyURL("/d"), "", "")
		if r.Status == 200 && r.Body == "two" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the changed SRV record was never followed: %d %q", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := do(t, "GET", n.proxyURL("/missing"), "", ""); r.Status != 503 {
		t.Fatalf("a name without records: %d %q, want 503", r.Status, r.Body)
	}
}

// discovery.consul through the real binary, against a Consul HTTP API stand-in: the service's
// passing instances are the nodes, re-read every fetch_interval.
func TestConsulDiscovery(t *testing.T) {
	one := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "one") })
	two := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "two") })
	var current atomic.Pointer[originServer]
	current.Store(one)
	consul := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/health/service/web" || r.URL.Query().Get("passing") != "true" {
			fmt.Fprint(w, "[]")
			return
		}
		host, port, _ := net.SplitHostPort(current.Load().addr())
		fmt.Fprintf(w, `[{"Node":{"Address":"10.255.255.1"},"Service":{"Address":%q,"Port":%s}}]`, host, port)
	}))
	t.Cleanup(consul.Close)

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  consul:\n    servers:\n      - %q\n    fetch_interval: 1\n", consul.URL)), "")
	put(t, n, "/routes/c", `{"uri":"/c","upstream":{"type":"roundrobin","service_name":"web","discovery_type":"consul"}}`)
	waitFor(t, n.proxyURL("/c"), func(st int, b string) bool { return st == 200 && b == "one" })
	current.Store(two)
	waitFor(t, n.proxyURL("/c"), func(st int, b string) bool { return st == 200 && b == "two" })
}

// discovery.nacos through the real binary, against a Nacos open API stand-in: the healthy
// instances of the service in discovery_args' namespace and group are the nodes.
func TestNacosDiscovery(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "nacos") })
	host, port, _ := net.SplitHostPort(o.addr())
	nacos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/nacos/v1/ns/instance/list" || q.Get("serviceName") != "svc" ||
			q.Get("namespaceId") != "dev" || q.Get("groupName") != "G1" {
			fmt.Fprint(w, `{"hosts":[]}`)
			return
		}
		fmt.Fprintf(w, `{"hosts":[{"ip":%q,"port":%s,"weight":1.0}]}`, host, port)
	}))
	t.Cleanup(nacos.Close)

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  nacos:\n    host:\n      - %q\n    fetch_interval: 1\n", nacos.URL)), "")
	put(t, n, "/routes/n", `{"uri":"/n","upstream":{"type":"roundrobin","service_name":"svc","discovery_type":"nacos",`+
		`"discovery_args":{"namespace_id":"dev","group_name":"G1"}}}`)
	waitFor(t, n.proxyURL("/n"), func(st int, b string) bool { return st == 200 && b == "nacos" })
}

// discovery.eureka through the real binary, against a Eureka REST stand-in.
func TestEurekaDiscovery(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "eureka") })
	host, port, _ := net.SplitHostPort(o.addr())
	eureka := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/eureka/apps/USER-SERVICE" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"application":{"instance":[{"ipAddr":%q,"status":"UP","port":{"$":%s,"@enabled":"true"}}]}}`, host, port)
	}))
	t.Cleanup(eureka.Close)

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  eureka:\n    host:\n      - %q\n    fetch_interval: 1\n", eureka.URL)), "")
	put(t, n, "/routes/e", `{"uri":"/e","upstream":{"type":"roundrobin","service_name":"USER-SERVICE","discovery_type":"eureka"}}`)
	waitFor(t, n.proxyURL("/e"), func(st int, b string) bool { return st == 200 && b == "eureka" })
}

// discovery.consul_kv through the real binary, against a Consul KV stand-in: the keys under the
// service's directory are the nodes.
func TestConsulKVDiscovery(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "kv") })
	kv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/kv/upstreams/web/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `[{"Key":"upstreams/web/%s","Value":"eyJ3ZWlnaHQiOjF9"}]`, o.addr())
	}))
	t.Cleanup(kv.Close)

	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  consul_kv:\n    servers:\n      - %q\n    fetch_interval: 1\n", kv.URL)), "")
	put(t, n, "/routes/kv", fmt.Sprintf(`{"uri":"/kv","upstream":{"type":"roundrobin","service_name":"%s/v1/kv/upstreams/web/","discovery_type":"consul_kv"}}`, kv.URL))
	waitFor(t, n.proxyURL("/kv"), func(st int, b string) bool { return st == 200 && b == "kv" })
}

// discovery.kubernetes through the real binary, against an API server stand-in: a
// service_name namespace/name:port is the ready addresses of the Service's Endpoints, and a
// change of the Endpoints is followed.
func TestKubernetesDiscovery(t *testing.T) {
	o1 := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pod-1") })
	o2 := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pod-2") })
	api := k8stest.Start(t, "sa-token")
	portOf := func(addr string) int {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return n
	}
	api.Set("shop/web", k8stest.Service{Ready: []string{"127.0.0.1"}, Ports: []k8stest.Port{{Name: "http", Port: portOf(o1.addr())}}})
	host, port := api.HostPort()
	p := newPorts(t)
	n := startNode(t, p, p.configYAML(keyConfig(), fmt.Sprintf("discovery:\n  kubernetes:\n    service:\n      host: %q\n      port: %q\n    client:\n      token: sa-token\n", host, port)), "")
	put(t, n, "/routes/k", `{"uri":"/k","upstream":{"type":"roundrobin","service_name":"shop/web:http","discovery_type":"kubernetes"}}`)
	waitFor(t, n.proxyURL("/k"), bodyIs("pod-1"))
	api.Set("shop/web", k8stest.Service{Ready: []string{"127.0.0.1"}, NotReady: []string{"127.0.0.2"}, Ports: []k8stest.Port{{Name: "http", Port: portOf(o2.addr())}}})
	waitFor(t, n.proxyURL("/k"), bodyIs("pod-2"))
	// scaled to zero: no node (503), not the last pods
	api.Set("shop/web", k8stest.Service{NotReady: []string{"127.0.0.1"}, Ports: []k8stest.Port{{Name: "http", Port: portOf(o2.addr())}}})
	waitFor(t, n.proxyURL("/k"), func(st int, _ string) bool { return st == 503 })
}
