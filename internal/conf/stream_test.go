package conf

import (
	"slices"
	"strings"
	"testing"
)

func TestStreamProxy(t *testing.T) {
	c, _, err := Parse([]byte(`apisix:
  proxy_mode: http&stream
  stream_proxy:
    tcp:
      - 9100
      - "127.0.0.1:9101"
      - addr: 9102
        tls: true
      - addr: "[::1]:9103"
        proxy_protocol: true
      - "9104-9105"
    udp:
      - 9200
      - "127.0.0.1:9211"
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tcp, udp, err := c.StreamProxy()
	if err != nil {
		t.Fatal(err)
	}
	want := []StreamListen{
		{Addr: "0.0.0.0:9100"}, {Addr: "127.0.0.1:9101"}, {Addr: "0.0.0.0:9102", TLS: true},
		{Addr: "[::1]:9103", ProxyProtocol: true}, {Addr: "0.0.0.0:9104"}, {Addr: "0.0.0.0:9105"},
	}
	if !slices.Equal(tcp, want) {
		t.Errorf("tcp = %+v\nwant %+v", tcp, want)
	}
	if !slices.Equal(udp, []StreamListen{{Addr: "0.0.0.0:9200"}, {Addr: "127.0.0.1:9211"}}) {
		t.Errorf("udp = %+v", udp)
	}

	for _, tc := range []struct{ yaml, want string }{
		{"tcp: [70000]", "apisix.stream_proxy.tcp[0]"},
		{"tcp: [\"nohost:9100\"]", "apisix.stream_proxy.tcp[0]"},
		{"tcp: [{tls: true}]", "apisix.stream_proxy.tcp[0]: missing addr"},
		{"tcp: [{addr: 9100, tls: maybe}]", "apisix.stream_proxy.tcp[0].tls"},
		{"udp: [{addr: 9200}]", "apisix.stream_proxy.udp[0]"},
		{"tcp: 9100", "apisix.stream_proxy.tcp: expected a list"},
	} {
		_, _, err := Parse([]byte("apisix:\n  proxy_mode: stream\n  stream_proxy:\n    "+tc.yaml+"\n"), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
	// the same port for a tcp stream listener and the HTTP proxy is a conflict
	if _, _, err := Parse([]byte("apisix:\n  proxy_mode: http&stream\n  node_listen: 9100\n  stream_proxy:\n    tcp: [9100]\n"), "t.yaml"); err == nil {
		t.Error("a stream tcp port shared with node_listen was accepted")
	}
}
