// Package conf reads the node configuration: APISIX's conf/config.yaml format, with its defaults,
// ${{ENV}} substitution, and errors that name the offending key.
package conf

// Config is the node configuration. Field names follow config.yaml's keys.
type Config struct {
	Apisix      Apisix         `yaml:"apisix"`
	Deployment  Deployment     `yaml:"deployment"`
	NginxConfig map[string]any `yaml:"nginx_config"`
	// Plugins lists the enabled plugin names; nil means APISIX's default list.
	Plugins       []string       `yaml:"plugins"`
	StreamPlugins []string       `yaml:"stream_plugins"`
	PluginAttr    map[string]any `yaml:"plugin_attr"`
	Discovery     map[string]any `yaml:"discovery"`
}

// Listen is one listening address; config.yaml writes it as a port, or {ip, port, enable_http2}.
type Listen struct {
	IP          string `yaml:"ip"`
	Port        int    `yaml:"port"`
	EnableHTTP2 *bool  `yaml:"enable_http2"`
	EnableHTTP3 bool   `yaml:"enable_http3"`
}

type Apisix struct {
	NodeListen              []Listen       `yaml:"node_listen"`
	EnableIPv6              bool           `yaml:"enable_ipv6"`
	EnableHTTP2             bool           `yaml:"enable_http2"`
	EnableControl           bool           `yaml:"enable_control"`
	Control                 Addr           `yaml:"control"`
	Status                  *Addr          `yaml:"status"` // nil: status API off
	SSL                     SSL            `yaml:"ssl"`
	ProxyMode               string         `yaml:"proxy_mode"` // http | stream | http&stream
	Router                  Router         `yaml:"router"`
	DeleteURITailSlash      bool           `yaml:"delete_uri_tail_slash"`
	NormalizeURILikeServlet bool           `yaml:"normalize_uri_like_servlet"`
	DataEncryption          DataEncryption `yaml:"data_encryption"`
	// Keys whose features come later are accepted and kept raw.
	Extra map[string]any `yaml:"-"`
}

type Addr struct {
	IP   string `yaml:"ip"`
	Port int    `yaml:"port"`
}

type SSL struct {
	Enable bool     `yaml:"enable"`
	Listen []Listen `yaml:"listen"`
}

type Router struct {
	HTTP string `yaml:"http"` // radixtree_host_uri (default) | radixtree_uri | radixtree_uri_with_parameter
	SSL  string `yaml:"ssl"`
}

type DataEncryption struct {
	EnableEncryptFields bool     `yaml:"enable_encrypt_fields"`
	Keyring             []string `yaml:"keyring"`
}

type Deployment struct {
	Role  string `yaml:"role"` // traditional | data_plane | control_plane
	Admin Admin  `yaml:"admin"`
	Etcd  Etcd   `yaml:"etcd"`
}

type Admin struct {
	AdminKeyRequired bool       `yaml:"admin_key_required"`
	AdminKey         []AdminKey `yaml:"admin_key"`
	AdminListen      Addr       `yaml:"admin_listen"`
	AllowAdmin       []string   `yaml:"allow_admin"` // CIDRs or IPs
	EnableAdminCORS  bool       `yaml:"enable_admin_cors"`
	AdminAPIVersion  string     `yaml:"admin_api_version"`
}

type AdminKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
	Role string `yaml:"role"` // admin | viewer
}

type Etcd struct {
	Host     []string `yaml:"host"` // empty: start the embedded server
	Prefix   string   `yaml:"prefix"`
	Timeout  int      `yaml:"timeout"` // seconds
	User     string   `yaml:"user"`
	Password string   `yaml:"password"`
	TLS      EtcdTLS  `yaml:"tls"`
	Embedded Embedded `yaml:"embedded"`
}

type EtcdTLS struct {
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
	Verify bool   `yaml:"verify"`
	SNI    string `yaml:"sni"`
}

// Embedded configures the in-process etcd server (Sluice's one addition to APISIX's keys).
type Embedded struct {
	ListenClient string `yaml:"listen_client"` // default http://127.0.0.1:2379
	ListenPeer   string `yaml:"listen_peer"`   // default http://127.0.0.1:2380
}
