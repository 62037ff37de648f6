// Package dubboproxy registers APISIX's dubbo-proxy plugin, which proxies HTTP requests to Dubbo
// services. Only the registration is here (name, priority, the config schema, read from
// apisix/plugins/dubbo-proxy.lua); the plugin's behaviour is not implemented yet.
package dubboproxy

import (
	_ "embed"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:     "dubbo-proxy",
		Priority: 507,
		Version:  "0.1",
		Schema:   schema,
	})
}
