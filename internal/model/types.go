package model

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
)

// The typed forms of the resources the data plane compiles. They decode the JSON the Admin
// API stored (already validated, defaults injected); fields the data plane does not use yet
// stay in the raw JSON. IDs may be JSON strings or numbers in APISIX data, hence ID.

// ID is a resource id that APISIX allows as a string or an integer.
type ID string

// UnmarshalJSON accepts "1" and 1.
func (id *ID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	*id = ID(n.String())
	return nil
}

// Timeout is {connect, send, read} in seconds.
type Timeout struct {
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Read    float64 `json:"read"`
}

// Route is a route object.
type Route struct {
	ID              ID                         `json:"id"`
	Name            string                     `json:"name"`
	URI             string                     `json:"uri"`
	URIs            []string                   `json:"uris"`
	Host            string                     `json:"host"`
	Hosts           []string                   `json:"hosts"`
	RemoteAddr      string                     `json:"remote_addr"`
	RemoteAddrs     []string                   `json:"remote_addrs"`
	Methods         []string                   `json:"methods"`
	Priority        int                        `json:"priority"`
	Vars            json.RawMessage            `json:"vars"`
	Plugins         map[string]json.RawMessage `json:"plugins"`
	Upstream        *Upstream                  `json:"upstream"`
	UpstreamID      ID                         `json:"upstream_id"`
	ServiceID       ID                         `json:"service_id"`
	PluginConfigID  ID                         `json:"plugin_config_id"`
	Timeout         *Timeout                   `json:"timeout"`
	EnableWebsocket *bool                      `json:"enable_websocket"`
	Status          *int                       `json:"status"` // nil or 1: enabled; 0: excluded from the router
	Labels          map[string]string          `json:"labels"`
}

// Service is a service object.
type Service struct {
	ID              ID                         `json:"id"`
	Name            string                     `json:"name"`
	Hosts           []string                   `json:"hosts"`
	Plugins         map[string]json.RawMessage `json:"plugins"`
	Upstream        *Upstream                  `json:"upstream"`
	UpstreamID      ID                         `json:"upstream_id"`
	EnableWebsocket *bool                      `json:"enable_websocket"`
	Labels          map[string]string          `json:"labels"`
}

// KeepalivePool configures an upstream's idle connection pool.
type KeepalivePool struct {
	Size        int     `json:"size"`         // idle connections kept per node (default 320)
	IdleTimeout float64 `json:"idle_timeout"` // seconds (default 60)
	Requests    int     `json:"requests"`     // requests per connection (default 1000)
}

// UpstreamTLS is the client certificate for upstream mTLS.
type UpstreamTLS struct {
	ClientCert   string `json:"client_cert"`
	ClientKey    string `json:"client_key"`
	ClientCertID ID     `json:"client_cert_id"`
	Verify       bool   `json:"verify"`
}

// Upstream is an upstream object (also used inline in routes and services).
type Upstream struct {
	ID            ID                `json:"id"`
	Name          string            `json:"name"`
	Type          string            `json:"type"` // roundrobin (default), chash, ewma, least_conn
	Nodes         Nodes             `json:"nodes"`
	ServiceName   string            `json:"service_name"`
	DiscoveryType string            `json:"discovery_type"`
	DiscoveryArgs json.RawMessage   `json:"discovery_args"`
	HashOn        string            `json:"hash_on"`
	Key           string            `json:"key"`
	Retries       *int              `json:"retries"` // nil: number of nodes - 1
	RetryTimeout  float64           `json:"retry_timeout"`
	Timeout       *Timeout          `json:"timeout"`
	PassHost      string            `json:"pass_host"` // pass (default), node, rewrite
	UpstreamHost  string            `json:"upstream_host"`
	Scheme        string            `json:"scheme"` // http (default), https, grpc, grpcs
	TLS           *UpstreamTLS      `json:"tls"`
	KeepalivePool *KeepalivePool    `json:"keepalive_pool"`
	Checks        json.RawMessage   `json:"checks"`
	Labels        map[string]string `json:"labels"`
}

// Node is one upstream node.
type Node struct {
	Host     string          `json:"host"`
	Port     int             `json:"port"` // 0: the scheme's default port
	Weight   int             `json:"weight"`
	Priority int             `json:"priority"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Nodes decodes both of APISIX's forms: {"host:port": weight} and [{host, port, weight, ...}].
// The map form is sorted by address so that every node builds the same balancer.
type Nodes []Node

// UnmarshalJSON accepts the map and the array form.
func (ns *Nodes) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var list []Node
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("nodes: %w", err)
		}
		*ns = list
		return nil
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("nodes: %w", err)
	}
	addrs := make([]string, 0, len(m))
	for a := range m {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	out := make([]Node, 0, len(m))
	for _, a := range addrs {
		host, port, err := splitHostPort(a)
		if err != nil {
			return fmt.Errorf("nodes: %q: %w", a, err)
		}
		out = append(out, Node{Host: host, Port: port, Weight: m[a]})
	}
	*ns = out
	return nil
}

// splitHostPort splits "host:port", "host", "[::1]:80" and "[::1]"; port 0 means "not given".
func splitHostPort(a string) (string, int, error) {
	if host, p, err := net.SplitHostPort(a); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("invalid port %q", p)
		}
		return host, port, nil
	}
	if len(a) > 1 && a[0] == '[' && a[len(a)-1] == ']' {
		return a[1 : len(a)-1], 0, nil
	}
	return a, 0, nil
}

// Consumer is a consumer object; credentials are separate objects.
type Consumer struct {
	Username string                     `json:"username"`
	GroupID  ID                         `json:"group_id"`
	Plugins  map[string]json.RawMessage `json:"plugins"`
	Labels   map[string]string          `json:"labels"`
}

// Credential is /consumers/<username>/credentials/<id>.
type Credential struct {
	ID      ID                         `json:"id"`
	Plugins map[string]json.RawMessage `json:"plugins"`
	Labels  map[string]string          `json:"labels"`
}

// PluginSet is the shape shared by global rules, plugin configs and consumer groups.
type PluginSet struct {
	ID      ID                         `json:"id"`
	Plugins map[string]json.RawMessage `json:"plugins"`
}
