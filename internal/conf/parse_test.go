package conf

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const src = "config.yaml"

func warningStrings(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// equalIgnoringSource compares two configs without where they were read from.
func equalIgnoringSource(a, b *Config) bool {
	x, y := *a, *b
	x.source, x.lines, y.source, y.lines = "", nil, "", nil
	return reflect.DeepEqual(x, y)
}

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"node_listen", c.Apisix.NodeListen, []Listen{{Port: 9080}}},
		{"enable_control", c.Apisix.EnableControl, true},
		{"control", c.Apisix.Control, Addr{IP: "127.0.0.1", Port: 9090}},
		{"ssl.enable", c.Apisix.SSL.Enable, true},
		{"ssl.listen", c.Apisix.SSL.Listen, []Listen{{Port: 9443}}},
		{"router", c.Apisix.Router, Router{HTTP: "radixtree_host_uri", SSL: "radixtree_sni"}},
		{"proxy_mode", c.Apisix.ProxyMode, "http"},
		{"role", c.Deployment.Role, "traditional"},
		{"admin_key_required", c.Deployment.Admin.AdminKeyRequired, true},
		{"admin_key", c.Deployment.Admin.AdminKey, []AdminKey{{Name: "admin", Role: "admin"}}},
		{"admin_listen", c.Deployment.Admin.AdminListen, Addr{IP: "127.0.0.1", Port: 9180}},
		{"allow_admin", c.Deployment.Admin.AllowAdmin, []string{"127.0.0.0/24", "::1/128"}},
		{"enable_admin_cors", c.Deployment.Admin.EnableAdminCORS, true},
		{"admin_api_version", c.Deployment.Admin.AdminAPIVersion, "v3"},
		{"etcd.host", c.Deployment.Etcd.Host, []string(nil)},
		{"etcd.prefix", c.Deployment.Etcd.Prefix, "/apisix"},
		{"etcd.timeout", c.Deployment.Etcd.Timeout, 30},
		{"embedded", c.Deployment.Etcd.Embedded, Embedded{ListenClient: "http://127.0.0.1:2379", ListenPeer: "http://127.0.0.1:2380"}},
		{"enable_encrypt_fields", c.Apisix.DataEncryption.EnableEncryptFields, true},
		{"keyring", c.Apisix.DataEncryption.Keyring, []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"}},
		{"plugins", c.Plugins, []string(nil)},
		{"status", c.Apisix.Status, (*Addr)(nil)},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestParseKeepsDefaultsKeyByKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		edit func(*Config) // what the file changes relative to Default()
	}{
		{"empty file", "", func(*Config) {}},
		{"only comments", "# nothing\n", func(*Config) {}},
		{"empty sections", "apisix:\ndeployment:\n", func(*Config) {}},
		{"admin key only", `
deployment:
  admin:
    admin_key:
      - name: admin
        key: secret
        role: admin
`, func(c *Config) {
			c.Deployment.Admin.AdminKey = []AdminKey{{Name: "admin", Key: "secret", Role: "admin"}}
		}},
		{"admin_listen port only", "deployment:\n  admin:\n    admin_listen:\n      port: 9999\n",
			func(c *Config) { c.Deployment.Admin.AdminListen.Port = 9999 }},
		{"null clears a list", "deployment:\n  admin:\n    allow_admin: ~\n",
			func(c *Config) { c.Deployment.Admin.AllowAdmin = nil }},
		{"list replaces, not appends", "deployment:\n  admin:\n    allow_admin: [10.0.0.0/8]\n",
			func(c *Config) { c.Deployment.Admin.AllowAdmin = []string{"10.0.0.0/8"} }},
		{"status gets its defaults", "apisix:\n  status:\n    port: 7086\n",
			func(c *Config) { c.Apisix.Status = &Addr{IP: "127.0.0.1", Port: 7086} }},
		{"numbers are strings where a string is wanted", "deployment:\n  etcd:\n    password: 12345\n",
			func(c *Config) { c.Deployment.Etcd.Password = "12345" }},
		{"later keys are kept raw", "apisix:\n  stream_proxy:\n    tcp: [9100]\n  ssl:\n    fallback_sni: a.test\n",
			func(c *Config) {
				c.Apisix.Extra = map[string]any{"stream_proxy": map[string]any{"tcp": []any{9100}}}
				c.Apisix.SSL.Extra = map[string]any{"fallback_sni": "a.test"}
			}},
		{"raw maps merge", "plugin_attr:\n  prometheus:\n    export_addr: {port: 9092}\n",
			func(c *Config) {
				c.PluginAttr = map[string]any{"prometheus": map[string]any{"export_addr": map[string]any{"port": 9092}}}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ws, err := Parse([]byte(tc.yaml), src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(ws) > 0 {
				t.Errorf("warnings: %v", warningStrings(ws))
			}
			want := Default()
			tc.edit(want)
			if !equalIgnoringSource(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestMergeRawKeyByKey(t *testing.T) {
	base := map[string]any{"a": map[string]any{"x": 1, "y": 2}, "b": 1, "c": 3}
	got := mergeRaw(base, map[string]any{"a": map[string]any{"y": 5}, "b": nil, "d": 4})
	want := map[string]any{"a": map[string]any{"x": 1, "y": 5}, "c": 3, "d": 4}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeRaw = %v, want %v", got, want)
	}
	if _, ok := base["d"]; ok {
		t.Error("mergeRaw modified its input")
	}
}

func TestListenForms(t *testing.T) {
	f, tr := false, true
	tests := []struct {
		name string
		yaml string
		node []Listen
		ssl  []Listen
	}{
		{"int", "apisix:\n  node_listen: 8080\n", []Listen{{Port: 8080}}, nil},
		{"list of ints", "apisix:\n  node_listen: [8080, 8081]\n", []Listen{{Port: 8080}, {Port: 8081}}, nil},
		{"objects", "apisix:\n  node_listen:\n    - ip: 127.0.0.2\n      port: 8082\n      enable_http2: false\n",
			[]Listen{{IP: "127.0.0.2", Port: 8082, EnableHTTP2: &f}}, nil},
		{"mixed", "apisix:\n  node_listen:\n    - 8080\n    - port: 8081\n      enable_http2: true\n    - {ip: \"::1\", port: 8082}\n",
			[]Listen{{Port: 8080}, {Port: 8081, EnableHTTP2: &tr}, {IP: "::1", Port: 8082}}, nil},
		{"ssl mixed", "apisix:\n  ssl:\n    listen:\n      - 8443\n      - {ip: 127.0.0.3, port: 8445, enable_http3: true}\n",
			nil, []Listen{{Port: 8443}, {IP: "127.0.0.3", Port: 8445, EnableHTTP3: true}}},
		{"ssl int", "apisix:\n  ssl:\n    listen: 8443\n", nil, []Listen{{Port: 8443}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ws, err := Parse([]byte(tc.yaml), src)
			if err != nil || len(ws) > 0 {
				t.Fatalf("Parse: %v, warnings %v", err, warningStrings(ws))
			}
			if tc.node == nil {
				tc.node = Default().Apisix.NodeListen
			}
			if tc.ssl == nil {
				tc.ssl = Default().Apisix.SSL.Listen
			}
			if !reflect.DeepEqual(c.Apisix.NodeListen, tc.node) {
				t.Errorf("node_listen = %+v, want %+v", c.Apisix.NodeListen, tc.node)
			}
			if !reflect.DeepEqual(c.Apisix.SSL.Listen, tc.ssl) {
				t.Errorf("ssl.listen = %+v, want %+v", c.Apisix.SSL.Listen, tc.ssl)
			}
		})
	}
}

func TestEtcdHostForms(t *testing.T) {
	tests := []struct {
		yaml     string
		want     []string
		embedded bool
	}{
		{"deployment:\n  etcd:\n    host: http://10.0.0.1:2379\n", []string{"http://10.0.0.1:2379"}, false},
		{"deployment:\n  etcd:\n    host:\n      - http://10.0.0.1:2379\n      - https://10.0.0.2:2379\n",
			[]string{"http://10.0.0.1:2379", "https://10.0.0.2:2379"}, false},
		{"deployment:\n  etcd:\n    host: []\n", []string{}, true},
		{"deployment:\n  etcd:\n    prefix: /x\n", nil, true},
	}
	for _, tc := range tests {
		c, _, err := Parse([]byte(tc.yaml), src)
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if !reflect.DeepEqual(c.Deployment.Etcd.Host, tc.want) || c.Embedded() != tc.embedded {
			t.Errorf("%q: host %#v embedded %v, want %#v %v", tc.yaml, c.Deployment.Etcd.Host, c.Embedded(), tc.want, tc.embedded)
		}
	}
}

func TestEnvSubstitution(t *testing.T) {
	t.Setenv("SLUICE_T_PORT", "9181")
	t.Setenv("SLUICE_T_KEY", "k3y")
	t.Setenv("SLUICE_T_FLAG", "false")
	t.Setenv("SLUICE_T_EMPTY", "")
	t.Setenv("SLUICE_T_NAME", "tcp")
	tests := []struct {
		name  string
		yaml  string
		check func(*Config) any
		want  any
	}{
		{"int value", "apisix:\n  node_listen: ${{SLUICE_T_PORT}}\n",
			func(c *Config) any { return c.Apisix.NodeListen }, []Listen{{Port: 9181}}},
		{"quoted still converts", "deployment:\n  admin:\n    admin_listen:\n      port: \"${{SLUICE_T_PORT}}\"\n",
			func(c *Config) any { return c.Deployment.Admin.AdminListen.Port }, 9181},
		{"bool value", "apisix:\n  enable_control: ${{SLUICE_T_FLAG}}\n",
			func(c *Config) any { return c.Apisix.EnableControl }, false},
		{"inside a string", "deployment:\n  etcd:\n    host: [\"http://etcd-${{SLUICE_T_KEY}}:2379\"]\n",
			func(c *Config) any { return c.Deployment.Etcd.Host }, []string{"http://etcd-k3y:2379"}},
		{"spaces inside braces", "deployment:\n  admin:\n    admin_key: [{name: a, key: \"${{ SLUICE_T_KEY }}\", role: admin}]\n",
			func(c *Config) any { return c.Deployment.Admin.AdminKey[0].Key }, "k3y"},
		{"default used when unset", "deployment:\n  etcd:\n    prefix: ${{SLUICE_T_UNSET:=/gw}}\n",
			func(c *Config) any { return c.Deployment.Etcd.Prefix }, "/gw"},
		{"default trimmed and typed", "apisix:\n  control:\n    port: ${{SLUICE_T_UNSET:= 9191 }}\n",
			func(c *Config) any { return c.Apisix.Control.Port }, 9191},
		{"set var wins over default", "apisix:\n  control:\n    port: ${{SLUICE_T_PORT:=1}}\n",
			func(c *Config) any { return c.Apisix.Control.Port }, 9181},
		{"set but empty is empty", "deployment:\n  etcd:\n    user: \"${{SLUICE_T_EMPTY:=root}}\"\n",
			func(c *Config) any { return c.Deployment.Etcd.User }, ""},
		{"in a key", "apisix:\n  stream_proxy:\n    ${{SLUICE_T_NAME}}: [9100]\n",
			func(c *Config) any { return c.Apisix.Extra["stream_proxy"] }, map[string]any{"tcp": []any{9100}}},
		{"nginx $var untouched", "nginx_config:\n  http:\n    access_log_format: \"$remote_addr ${var}\"\n",
			func(c *Config) any { return c.NginxConfig["http"] }, map[string]any{"access_log_format": "$remote_addr ${var}"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ws, err := Parse([]byte(tc.yaml), src)
			if err != nil || len(ws) > 0 {
				t.Fatalf("Parse: %v, warnings %v", err, warningStrings(ws))
			}
			if got := tc.check(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"typo", "apisix:\n  node_lisen: 9080\n", []string{"apisix.node_lisen: unknown key"}},
		{"top level", "foo: 1\n", []string{"foo: unknown key"}},
		{"deep", "deployment:\n  etcd:\n    tls:\n      verfy: false\n", []string{"deployment.etcd.tls.verfy: unknown key"}},
		{"in a list item", "deployment:\n  admin:\n    admin_key:\n      - {name: a, key: b, role: admin, rol: x}\n",
			[]string{"deployment.admin.admin_key[0].rol: unknown key"}},
		{"in a listen object", "apisix:\n  node_listen:\n    - {port: 1, host: x}\n", []string{"apisix.node_listen[0].host: unknown key"}},
		{"http3 on node_listen", "apisix:\n  node_listen:\n    - {port: 1, enable_http3: true}\n",
			[]string{"apisix.node_listen[0].enable_http3: unknown key (HTTP/3 is set on apisix.ssl.listen entries)"}},
		{"moved in 3.0", "apisix:\n  allow_admin: [127.0.0.1]\netcd:\n  host: [http://a:1]\n", []string{
			"apisix.allow_admin: unknown key (APISIX 3 reads it from deployment.admin.allow_admin)",
			"etcd: unknown key (APISIX 3 reads it from deployment.etcd)",
		}},
		{"duplicate", "apisix:\n  proxy_mode: http\n  proxy_mode: stream\n", []string{"apisix.proxy_mode: duplicate key (the last one wins)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ws, err := Parse([]byte(tc.yaml), src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := warningStrings(ws); !slices.Equal(got, tc.want) {
				t.Errorf("warnings = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWarningLine(t *testing.T) {
	_, ws, _ := Parse([]byte("apisix:\n  enable_ipv6: false\n  node_lisen: 1\n"), src)
	if len(ws) != 1 || ws[0].Line != 3 {
		t.Errorf("warnings = %+v, want one on line 3", ws)
	}
}

func TestFullAPISIXFileHasNoWarnings(t *testing.T) {
	c, ws, err := Load(filepath.Join("testdata", "apisix-full.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(ws) > 0 {
		t.Errorf("warnings: %q", warningStrings(ws))
	}
	if c.Deployment.Etcd.TLS.SNI != "etcd.local" || !c.StreamMode() || len(c.Apisix.NodeListen) != 3 {
		t.Errorf("file not applied: %+v", c)
	}
	if c.Apisix.Extra["proxy_protocol"] == nil || c.Deployment.Etcd.Extra["watch_timeout"] != 50 ||
		c.Deployment.Admin.Extra["enable_admin_ui"] != true || c.Extra["graphql"] == nil {
		t.Errorf("later keys not kept: apisix %v etcd %v admin %v top %v",
			c.Apisix.Extra, c.Deployment.Etcd.Extra, c.Deployment.Admin.Extra, c.Extra)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.HasPrefix(err.Error(), "read config: open ") {
		t.Errorf("err = %v", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("apisix:\n  enable_control: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(p)
	if want := p + ":2: apisix.enable_control: expected a boolean, got 1"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("apisix:\n  node_listen: [1, {port: 2}]\n"))
	f.Add([]byte("deployment:\n  etcd:\n    host: ${{X:=http://a:1}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data, src)
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v with error %v", c != nil, err)
		}
	})
}
