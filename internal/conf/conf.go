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
	// Extra keeps top-level keys APISIX knows whose features come later (graphql, ext-plugin,
	// wasm, xrpc), raw.
	Extra map[string]any `yaml:"-"`

	// source and lines let Validate name the file and line of a key found by a cross-key check.
	source string
	lines  map[string]int
}

// Listen is one listening address; config.yaml writes it as a port, or as {ip, port, enable_http2}
// (node_listen) / {ip, port, enable_http3} (ssl.listen). An empty IP means 0.0.0.0.
type Listen struct {
	IP          string `yaml:"ip"`
	Port        int    `yaml:"port"`
	EnableHTTP2 *bool  `yaml:"enable_http2"`
	EnableHTTP3 bool   `yaml:"enable_http3"`
}

// Apisix is the apisix: section.
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

// Addr is an {ip, port} pair such as apisix.control or deployment.admin.admin_listen.
type Addr struct {
	IP   string `yaml:"ip"`
	Port int    `yaml:"port"`
}

// SSL is apisix.ssl: the HTTPS proxy listeners.
type SSL struct {
	Enable bool     `yaml:"enable"`
	Listen []Listen `yaml:"listen"`
	// Extra keeps ssl_protocols, ssl_ciphers, fallback_sni ... raw until TLS settings land.
	Extra map[string]any `yaml:"-"`
}

// Router is apisix.router.
type Router struct {
	HTTP string `yaml:"http"` // radixtree_host_uri (default) | radixtree_uri | radixtree_uri_with_parameter
	SSL  string `yaml:"ssl"`
}

// DataEncryption is apisix.data_encryption: AES keys for encrypt_fields and SSL private keys.
type DataEncryption struct {
	EnableEncryptFields bool     `yaml:"enable_encrypt_fields"`
	Keyring             []string `yaml:"keyring"`
}

// Deployment is the deployment: section: role, Admin API and etcd.
type Deployment struct {
	Role  string `yaml:"role"` // traditional | data_plane | control_plane
	Admin Admin  `yaml:"admin"`
	Etcd  Etcd   `yaml:"etcd"`
	// Extra keeps role_traditional, role_data_plane, role_control_plane and certs raw;
	// ConfigProvider reads the provider from it.
	Extra map[string]any `yaml:"-"`
}

// Admin is deployment.admin.
type Admin struct {
	AdminKeyRequired bool       `yaml:"admin_key_required"`
	AdminKey         []AdminKey `yaml:"admin_key"`
	AdminListen      Addr       `yaml:"admin_listen"`
	// AllowAdmin lists CIDRs or IPs; empty means any client may connect, as in APISIX.
	AllowAdmin      []string `yaml:"allow_admin"`
	EnableAdminCORS bool     `yaml:"enable_admin_cors"`
	AdminAPIVersion string   `yaml:"admin_api_version"`
	// Extra keeps https_admin, admin_api_mtls and enable_admin_ui raw.
	Extra map[string]any `yaml:"-"`
}

// AdminKey is one deployment.admin.admin_key entry; an empty Key means "generate one".
type AdminKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
	Role string `yaml:"role"` // admin | viewer
}

// Etcd is deployment.etcd.
type Etcd struct {
	Host     []string `yaml:"host"` // empty: start the embedded server
	Prefix   string   `yaml:"prefix"`
	Timeout  int      `yaml:"timeout"` // seconds
	User     string   `yaml:"user"`
	Password string   `yaml:"password"`
	TLS      EtcdTLS  `yaml:"tls"`
	Embedded Embedded `yaml:"embedded"`
	// Extra keeps watch_timeout, startup_retry, resync_delay, health_check_timeout and use_grpc raw.
	Extra map[string]any `yaml:"-"`
}

// EtcdTLS is deployment.etcd.tls.
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
