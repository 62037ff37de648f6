// Package model knows APISIX's resource types: their JSON Schemas (embedded), the cross-field
// rules the schemas cannot express, the plugin configurations inside them, and the references
// between resources. It answers with APISIX's exact error texts.
package model

// Kind names a resource the way the Admin API path and the etcd key do.
type Kind string

const (
	Routes         Kind = "routes"
	Services       Kind = "services"
	Upstreams      Kind = "upstreams"
	Consumers      Kind = "consumers"
	Credentials    Kind = "credentials" // /consumers/<username>/credentials/<id>
	ConsumerGroups Kind = "consumer_groups"
	SSLs           Kind = "ssls"
	GlobalRules    Kind = "global_rules"
	PluginConfigs  Kind = "plugin_configs"
	PluginMetadata Kind = "plugin_metadata"
	StreamRoutes   Kind = "stream_routes"
	Protos         Kind = "protos"
	Secrets        Kind = "secrets" // id is "<manager>/<id>"
)

// Ref is one reference from a resource to another (a route's upstream_id, service_id,
// plugin_config_id; a service's upstream_id; a consumer's group_id; traffic-split upstream_id ...).
type Ref struct {
	Kind Kind
	ID   string
	// Field is the referring field, as APISIX names it in errors ("upstream_id", "service_id" ...).
	Field string
}
