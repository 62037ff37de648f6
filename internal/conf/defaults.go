package conf

// Default returns APISIX's defaults (apisix/cli/config.lua) with Sluice's deviations:
// the Admin API listens on loopback, no etcd host means the embedded server, and IPv6
// proxy listeners are opt-in.
func Default() *Config {
	return &Config{
		Apisix: Apisix{
			NodeListen: []Listen{{Port: 9080}},
			// APISIX turns enable_ipv6 on; Sluice leaves it off so a default node binds only
			// 0.0.0.0:9080 and never fails on hosts without IPv6. Setting it adds [::]:port.
			EnableIPv6:    false,
			EnableHTTP2:   true,
			EnableControl: true,
			Control:       Addr{IP: "127.0.0.1", Port: 9090},
			SSL: SSL{
				Enable: true,
				Listen: []Listen{{Port: 9443}},
			},
			ProxyMode: "http",
			Router:    Router{HTTP: "radixtree_host_uri", SSL: "radixtree_sni"},
			DataEncryption: DataEncryption{
				EnableEncryptFields: true,
				Keyring:             []string{"qeddd145sfvddff3", "edd1c9f0985e76a2"},
			},
		},
		Deployment: Deployment{
			Role: "traditional",
			Admin: Admin{
				AdminKeyRequired: true,
				// As in APISIX: one admin entry with an empty key, which means "generate one".
				AdminKey: []AdminKey{{Name: "admin", Key: "", Role: "admin"}},
				// Sluice deviation: loopback, not 0.0.0.0, so a fresh node does not expose the
				// Admin API to the network.
				AdminListen: Addr{IP: "127.0.0.1", Port: 9180},
				// APISIX allows 127.0.0.0/24 only. ::1 is the same machine: without it a local
				// client reaching the Admin API over IPv6 loopback (curl localhost on many
				// systems, or admin_listen on [::]) would be refused.
				AllowAdmin:      []string{"127.0.0.0/24", "::1/128"},
				EnableAdminCORS: true,
				AdminAPIVersion: "v3",
			},
			Etcd: Etcd{
				Host:    nil, // the embedded server
				Prefix:  "/apisix",
				Timeout: 30,
				TLS:     EtcdTLS{Verify: true},
				Embedded: Embedded{
					ListenClient: "http://127.0.0.1:2379",
					ListenPeer:   "http://127.0.0.1:2380",
				},
			},
		},
		Plugins: nil, // APISIX's default list, computed by the plugin registry
	}
}

// defaultStatus is apisix.status once the key is present (the status API is off without it).
func defaultStatus() *Addr { return &Addr{IP: "127.0.0.1", Port: 7085} }
