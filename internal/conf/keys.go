package conf

// laterKeys lists, per section, the keys APISIX has (apisix/cli/config.lua, cli/schema.lua,
// conf/config.yaml.example) whose features Sluice does not implement yet. They are accepted
// without a warning and kept raw in the section's Extra map, so a real APISIX config.yaml
// reads cleanly.
var laterKeys = map[string]map[string]bool{
	"": set("graphql", "ext-plugin", "wasm", "xrpc"),
	"apisix": set(
		"id", "enable_admin", "enable_dev_mode", "enable_reuseport",
		"show_upstream_status_in_response_header", "enable_server_tokens",
		"extra_lua_path", "extra_lua_cpath", "lua_module_hook",
		"proxy_cache", "proxy_protocol", "stream_proxy",
		"dns_resolver", "dns_resolver_valid", "resolver_timeout", "enable_resolv_search_opt",
		"disable_sync_configuration_during_start", "events", "lru", "tracing",
		"match_uri_encoded_slash", "max_post_args_readable_size",
		"enable_pprof", // Sluice's: Go pprof on the control API
	),
	"apisix.ssl": set(
		"ssl_trusted_combined_path", "ssl_trusted_certificate", "ssl_protocols", "ssl_ciphers",
		"ssl_session_tickets", "ssl_session_timeout", "ssl_session_cache", "fallback_sni",
		"key_encrypt_salt", "ssl_cert", "ssl_cert_key",
	),
	"deployment":       set("role_traditional", "role_data_plane", "role_control_plane", "certs"),
	"deployment.admin": set("https_admin", "admin_api_mtls", "enable_admin_ui"),
	"deployment.etcd":  set("watch_timeout", "startup_retry", "resync_delay", "health_check_timeout", "use_grpc"),
}

// movedKeys are APISIX 2.x locations that 3.0 moved; they warn like unknown keys, with a hint.
var movedKeys = map[string]string{
	"etcd":                      "deployment.etcd",
	"apisix.config_center":      "deployment.role_<role>.config_provider",
	"apisix.allow_admin":        "deployment.admin.allow_admin",
	"apisix.admin_key":          "deployment.admin.admin_key",
	"apisix.admin_key_required": "deployment.admin.admin_key_required",
	"apisix.admin_listen":       "deployment.admin.admin_listen",
	"apisix.port_admin":         "deployment.admin.admin_listen.port",
	"apisix.https_admin":        "deployment.admin.https_admin",
	"apisix.admin_api_mtls":     "deployment.admin.admin_api_mtls",
	"apisix.enable_admin_cors":  "deployment.admin.enable_admin_cors",
	"apisix.admin_api_version":  "deployment.admin.admin_api_version",
	"apisix.enable_debug":       "conf/debug.yaml",
	"apisix.ssl.listen_port":    "apisix.ssl.listen",
}

func unknownKeyMsg(path string) string {
	if to, ok := movedKeys[path]; ok {
		return "unknown key (APISIX 3 reads it from " + to + ")"
	}
	return "unknown key"
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
