package conf

import (
	"errors"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"bool", "apisix:\n  enable_control: yes\n",
			`config.yaml:2: apisix.enable_control: expected a boolean, got "yes"`},
		{"int", "deployment:\n  etcd:\n    timeout: 30s\n",
			`config.yaml:3: deployment.etcd.timeout: expected an integer, got "30s"`},
		{"string", "apisix:\n  proxy_mode: [http]\n",
			`config.yaml:2: apisix.proxy_mode: expected a string, got a list`},
		{"mapping", "apisix:\n  control: 9090\n",
			`config.yaml:2: apisix.control: expected a mapping, got 9090`},
		{"list", "deployment:\n  admin:\n    allow_admin: 127.0.0.1\n",
			`config.yaml:3: deployment.admin.allow_admin: expected a list, got "127.0.0.1"`},
		{"top level", "- a\n", `config.yaml:1: expected a mapping at the top level, got a list`},
		{"raw map", "plugin_attr: [1]\n", `config.yaml:1: plugin_attr: expected a mapping, got a list`},
		{"yaml syntax", "apisix:\n  a: b: c\n", "config.yaml: yaml: line 2: mapping values are not allowed in this context"},

		{"node_listen string", "apisix:\n  node_listen: \"9080\"\n",
			`config.yaml:2: apisix.node_listen: expected a port, a list of ports or a list of {ip, port} objects, got "9080"`},
		{"node_listen item", "apisix:\n  node_listen:\n    - 127.0.0.1:9080\n",
			`config.yaml:3: apisix.node_listen[0]: expected a port or an {ip, port} object, got "127.0.0.1:9080"`},
		{"node_listen missing port", "apisix:\n  node_listen:\n    - 9080\n    - ip: 127.0.0.1\n",
			"config.yaml:4: apisix.node_listen[1]: missing port"},
		{"node_listen port range", "apisix:\n  node_listen: [9080, 70000]\n",
			`config.yaml:2: apisix.node_listen[1].port: must be between 1 and 65535, got 70000`},
		{"node_listen ip", "apisix:\n  node_listen:\n    - ip: localhost\n      port: 1\n",
			`config.yaml:3: apisix.node_listen[0].ip: "localhost" is not an IP address`},
		{"node_listen http2 type", "apisix:\n  node_listen:\n    - port: 1\n      enable_http2: on\n",
			`config.yaml:4: apisix.node_listen[0].enable_http2: expected a boolean, got "on"`},
		{"ssl.listen port", "apisix:\n  ssl:\n    listen:\n      - port: 0\n",
			`config.yaml:4: apisix.ssl.listen[0].port: must be between 1 and 65535, got 0`},
		{"control port", "apisix:\n  control:\n    port: 65536\n",
			`config.yaml:3: apisix.control.port: must be between 1 and 65535, got 65536`},
		{"admin_listen port", "deployment:\n  admin:\n    admin_listen:\n      port: -1\n",
			`config.yaml:4: deployment.admin.admin_listen.port: must be between 1 and 65535, got -1`},
		{"admin role", "deployment:\n  admin:\n    admin_key:\n      - {name: a, key: x, role: admin}\n      - {name: b, key: y, role: root}\n",
			`config.yaml:5: deployment.admin.admin_key[1].role: must be "admin" or "viewer"`},
		{"admin role missing", "deployment:\n  admin:\n    admin_key:\n      - {name: a, key: x}\n",
			`config.yaml:4: deployment.admin.admin_key[0].role: must be "admin" or "viewer"`},
		{"deployment role", "deployment:\n  role: standalone\n",
			`config.yaml:2: deployment.role: must be "traditional", "data_plane" or "control_plane"`},
		{"proxy_mode", "apisix:\n  proxy_mode: tcp\n",
			`config.yaml:2: apisix.proxy_mode: must be "http", "stream" or "http&stream"`},
		{"router.http", "apisix:\n  router:\n    http: radixtree_host\n",
			`config.yaml:3: apisix.router.http: must be "radixtree_host_uri", "radixtree_uri" or "radixtree_uri_with_parameter"`},
		{"router.ssl", "apisix:\n  router:\n    ssl: sni\n",
			`config.yaml:3: apisix.router.ssl: must be "radixtree_sni"`},
		{"allow_admin", "deployment:\n  admin:\n    allow_admin:\n      - 127.0.0.0/24\n      - 10.0.0.0/33\n",
			`config.yaml:5: deployment.admin.allow_admin[1]: "10.0.0.0/33" is not an IP address or CIDR`},
		{"keyring", "apisix:\n  data_encryption:\n    keyring:\n      - qeddd145sfvddff3\n      - short\n",
			`config.yaml:5: apisix.data_encryption.keyring[1]: must be 16 or 32 bytes long, got 5`},
		{"admin_api_version", "deployment:\n  admin:\n    admin_api_version: v2\n",
			`config.yaml:3: deployment.admin.admin_api_version: must be "v3"`},
		{"etcd host scheme", "deployment:\n  etcd:\n    host:\n      - 127.0.0.1:2379\n",
			`config.yaml:4: deployment.etcd.host[0]: must be an http:// or https:// URL, got "127.0.0.1:2379"`},
		{"etcd host type", "deployment:\n  etcd:\n    host: {a: 1}\n",
			`config.yaml:3: deployment.etcd.host: expected a URL or a list of URLs, got a mapping`},
		{"etcd timeout", "deployment:\n  etcd:\n    timeout: 0\n",
			`config.yaml:3: deployment.etcd.timeout: must be at least 1, got 0`},
		{"embedded url", "deployment:\n  etcd:\n    embedded:\n      listen_client: 127.0.0.1:2379\n",
			`config.yaml:4: deployment.etcd.embedded.listen_client: must be an http:// or https:// URL, got "127.0.0.1:2379"`},
		{"env unset", "deployment:\n  etcd:\n    host:\n      - ${{SLUICE_T_NOT_SET}}\n",
			`config.yaml:4: deployment.etcd.host[0]: can't find environment variable SLUICE_T_NOT_SET`},
		{"env unset in key", "apisix:\n  ${{SLUICE_T_NOT_SET}}: 1\n",
			`config.yaml:2: apisix.${{SLUICE_T_NOT_SET}}: can't find environment variable SLUICE_T_NOT_SET`},
		{"env gives wrong type", "apisix:\n  enable_control: ${{SLUICE_T_NOT_SET:=maybe}}\n",
			`config.yaml:2: apisix.enable_control: expected a boolean, got "maybe"`},
		{"several at once", "apisix:\n  enable_ipv6: 1\n  proxy_mode: x\n",
			"config.yaml:2: apisix.enable_ipv6: expected a boolean, got 1\nconfig.yaml:3: apisix.proxy_mode: must be \"http\", \"stream\" or \"http&stream\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tc.yaml), src)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Error("a config came back with the error")
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

func TestErrorIsTyped(t *testing.T) {
	_, _, err := Parse([]byte("deployment:\n  role: x\n"), src)
	var e *Error
	if !errors.As(err, &e) || e.File != src || e.Line != 2 || e.Path != "deployment.role" {
		t.Errorf("errors.As(%v) = %+v", err, e)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Path: "a.b", Msg: "m"}, "f:3: a.b: m"},
		{Error{File: "f", Path: "a.b", Msg: "m"}, "f: a.b: m"},
		{Error{Path: "a.b", Msg: "m"}, "a.b: m"},
		{Error{File: "f", Line: 1, Msg: "m"}, "f:1: m"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
