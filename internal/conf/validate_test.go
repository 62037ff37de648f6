package conf

import (
	"slices"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "" for valid
	}{
		{"defaults", "", ""},
		{"admin on the proxy port", "deployment:\n  admin:\n    admin_listen: {ip: 0.0.0.0, port: 9080}\n",
			`config.yaml:3: deployment.admin.admin_listen: port 9080 is already used by apisix.node_listen[0]`},
		{"same port on two distinct ips", "apisix:\n  node_listen:\n    - {ip: 127.0.0.1, port: 9080}\n    - {ip: 127.0.0.2, port: 9080}\n", ""},
		{"duplicate node_listen", "apisix:\n  node_listen: [9080, 9080]\n",
			`config.yaml:2: apisix.node_listen[1]: port 9080 is already used by apisix.node_listen[0]`},
		{"wildcard covers loopback", "apisix:\n  control:\n    port: 9080\n",
			`config.yaml:2: apisix.control: port 9080 is already used by apisix.node_listen[0]`},
		{"0.0.0.0 does not cover ::1", "apisix:\n  node_listen: [{ip: 0.0.0.0, port: 9080}]\n  control: {ip: \"::1\", port: 9080}\n", ""},
		{"ssl off frees its port", "apisix:\n  ssl:\n    enable: false\n  control:\n    ip: 0.0.0.0\n    port: 9443\n", ""},
		{"control_plane opens no proxy", "deployment:\n  role: control_plane\n  admin:\n    admin_listen: {port: 9080}\n", ""},
		{"data_plane opens no admin", "deployment:\n  role: data_plane\n  etcd:\n    host: [http://10.0.0.1:2379]\n  admin:\n    admin_listen: {ip: 0.0.0.0, port: 9080}\n", ""},
		{"embedded etcd port", "apisix:\n  node_listen: 2379\n",
			`config.yaml: deployment.etcd.embedded.listen_client: port 2379 is already used by apisix.node_listen[0]`},
		{"external etcd frees 2379", "apisix:\n  node_listen: 2379\ndeployment:\n  etcd:\n    host: http://10.0.0.1:2379\n", ""},
		{"data_plane needs an etcd cluster", "deployment:\n  role: data_plane\n",
			`config.yaml:1: deployment.etcd.host: a data_plane node reads its configuration from an etcd cluster: set deployment.etcd.host (the embedded etcd runs only on traditional and control_plane nodes)`},
		{"data_plane from a yaml file", "deployment:\n  role: data_plane\n  role_data_plane:\n    config_provider: yaml\n", ""},
		{"config_provider", "deployment:\n  role: control_plane\n  role_control_plane:\n    config_provider: yaml\n",
			`config.yaml:4: deployment.role_control_plane.config_provider: must be "etcd"`},
		{"etcd tls cert without key", "deployment:\n  etcd:\n    tls:\n      cert: /c.pem\n",
			`config.yaml:3: deployment.etcd.tls.key: required when deployment.etcd.tls.cert is set`},
		{"https_admin without cert", "deployment:\n  admin:\n    https_admin: true\n",
			`config.yaml:3: deployment.admin.https_admin: missing ssl cert for https admin`},
		{"https_admin with cert", "deployment:\n  admin:\n    https_admin: true\n    admin_api_mtls: {admin_ssl_cert: a, admin_ssl_cert_key: b}\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.yaml), src)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error\n got: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestValidateWithoutSource(t *testing.T) {
	c := Default()
	c.Deployment.Admin.AdminListen.Port = 9090
	want := "apisix.control: port 9090 is already used by deployment.admin.admin_listen"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %s", err, want)
	}
}

func TestConfigProvider(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"", "etcd"},
		{"deployment:\n  role_traditional:\n    config_provider: yaml\n", "yaml"},
		{"deployment:\n  role: data_plane\n  role_traditional:\n    config_provider: yaml\n  etcd:\n    host: [http://a:1]\n", "etcd"},
	}
	for _, tc := range tests {
		c, _, err := Parse([]byte(tc.yaml), src)
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := c.ConfigProvider(); got != tc.want {
			t.Errorf("%q: ConfigProvider() = %q, want %q", tc.yaml, got, tc.want)
		}
	}
}

func TestAddrs(t *testing.T) {
	tests := []struct {
		name                string
		yaml                string
		proxy, ssl          []string
		admin, control      string
		status              string
		stream, http, embed bool
	}{
		{"defaults", "", []string{"0.0.0.0:9080"}, []string{"0.0.0.0:9443"}, "127.0.0.1:9180", "127.0.0.1:9090", "", false, true, true},
		{"ipv6 on wildcard listeners only", `
apisix:
  enable_ipv6: true
  node_listen: [9080, {ip: 0.0.0.0, port: 9081}, {ip: 127.0.0.1, port: 9082}, {ip: "::1", port: 9083}]
  ssl: {enable: false}
  status: {}
  proxy_mode: http&stream
deployment:
  admin: {admin_listen: {ip: "", port: 9999}}
  etcd: {host: http://e:2379}
`, []string{"0.0.0.0:9080", "[::]:9080", "0.0.0.0:9081", "[::]:9081", "127.0.0.1:9082", "[::1]:9083"}, nil,
			"0.0.0.0:9999", "127.0.0.1:9090", "127.0.0.1:7085", true, true, false},
		{"stream only", "apisix:\n  proxy_mode: stream\n  control: {ip: \"[::1]\", port: 1}\n",
			[]string{"0.0.0.0:9080"}, []string{"0.0.0.0:9443"}, "127.0.0.1:9180", "[::1]:1", "", true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ws, err := Parse([]byte(tc.yaml), src)
			if err != nil || len(ws) > 0 {
				t.Fatalf("Parse: %v %v", err, warningStrings(ws))
			}
			if got := c.ProxyAddrs(); !slices.Equal(got, tc.proxy) {
				t.Errorf("ProxyAddrs() = %q, want %q", got, tc.proxy)
			}
			if got := c.SSLAddrs(); !slices.Equal(got, tc.ssl) {
				t.Errorf("SSLAddrs() = %q, want %q", got, tc.ssl)
			}
			if got := c.AdminAddr(); got != tc.admin {
				t.Errorf("AdminAddr() = %q, want %q", got, tc.admin)
			}
			if got := c.ControlAddr(); got != tc.control {
				t.Errorf("ControlAddr() = %q, want %q", got, tc.control)
			}
			if got := c.StatusAddr(); got != tc.status {
				t.Errorf("StatusAddr() = %q, want %q", got, tc.status)
			}
			if c.StreamMode() != tc.stream || c.HTTPMode() != tc.http || c.Embedded() != tc.embed {
				t.Errorf("StreamMode %v HTTPMode %v Embedded %v, want %v %v %v",
					c.StreamMode(), c.HTTPMode(), c.Embedded(), tc.stream, tc.http, tc.embed)
			}
		})
	}
}
