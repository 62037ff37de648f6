package plugin

import (
	"encoding/json"
	"io"
	"log/slog"
	"time"
)

// Node is the gateway process as a plugin's Definition.Start sees it: its configuration and
// live state, for what a plugin runs once per node (an export server, cache zones, a tracer
// provider) rather than once per configured use.
type Node interface {
	// Config returns the node configuration (config.yaml, defaults applied) at a dotted path
	// as JSON: Config("plugin_attr.prometheus"), Config("apisix.proxy_cache"). Nil when absent.
	Config(path string) json.RawMessage
	Logger() *slog.Logger
	// Hostname and Version label node-level metrics and log entries.
	Hostname() string
	Version() string
	// ID is the node's id (APISIX's apisix_uid), stable across restarts.
	ID() string
	// Status reports the node's live state; cheap enough to call on every metrics scrape.
	Status() NodeStatus
	// API finds an internal endpoint a started plugin provides (its Shared implements
	// APIProvider), by URI: what APISIX's public-api plugin exposes through a route.
	API(uri string) (API, bool)
}

// API is an internal endpoint a plugin serves (APISIX's plugin api(): prometheus metrics,
// batch-requests ...). Serve ends the request with c.Exit.
type API struct {
	URI     string
	Methods []string // empty: any
	Serve   func(c Ctx)
}

// APIProvider is implemented by a Shared whose plugin provides internal endpoints.
type APIProvider interface {
	APIs() []API
}

// NodeStatus is a point-in-time view of the node for metrics and status endpoints.
type NodeStatus struct {
	// EtcdReachable: the configuration store answered its last health probe.
	EtcdReachable bool
	// ModifyIndexes maps an object kind ("routes", "services", "upstreams", "consumers",
	// "ssls", "global_rules", "protos", "stream_routes", "plugin_configs", "consumer_groups",
	// "plugin_metadata") to the highest modification revision among its objects, and "prev_index"
	// / "max_modify_index" to the revision the data plane has applied — APISIX's
	// apisix_etcd_modify_indexes keys.
	ModifyIndexes map[string]int64
	// Connections are the proxy listeners' counters, as nginx's stub_status reports them.
	Connections ConnStats
	// Ready: the first complete configuration snapshot is live.
	Ready bool
	// UpstreamHealth is every upstream node under a started health checker (apisix_upstream_status).
	UpstreamHealth []UpstreamNodeHealth
}

// UpstreamNodeHealth is one checked node: Name is the etcd key of the upstream's owner
// (/apisix/upstreams/1, /apisix/routes/1 for an inline upstream).
type UpstreamNodeHealth struct {
	Name    string
	IP      string
	Port    int
	Healthy bool
}

// ConnStats are nginx stub_status's counters.
type ConnStats struct {
	Active, Accepted, Handled, Total, Reading, Writing, Waiting int64
}

// Shared is what Definition.Start returns: state shared by every instance of the plugin on
// this node, handed to New as Env.Shared. Close runs when the plugin is disabled (plugins
// reload) or the node stops, after no snapshot uses an instance built with it.
type Shared interface{ Close() error }

// Upstream is an upstream a plugin compiled with Env.NewUpstream (traffic-split's inline
// upstreams). The plugin owns it: it closes it in its own Close.
type Upstream interface{ Close() }

// UpstreamSetter is implemented by a Ctx whose upstream a plugin may replace for the current
// request (call it in rewrite or access; the choice holds for every retry).
type UpstreamSetter interface {
	// SetUpstream(nil) restores the route's upstream.
	SetUpstream(u Upstream)
	// SetUpstreamID selects the upstream object with that id from the configuration the
	// request runs on; false when there is none (the request keeps its upstream).
	SetUpstreamID(id string) bool
}

// StreamExiter is implemented by a Ctx that can end the request with a body too large to hold
// in memory (proxy-cache serving from disk). size is the body length, -1 when unknown
// (chunked). The runtime reads body to its end and closes it when it is an io.Closer, also
// when the client goes away; body filters see it chunk by chunk.
type StreamExiter interface {
	ExitStream(status int, body io.Reader, size int64)
}

// RequestInfo is what loggers, metrics and tracers read about a request, mostly in the log
// phase: timings, sizes and the upstream that answered. Every Ctx implements it.
type RequestInfo interface {
	// StartTime is when the request's first byte was read (nginx's $request_time origin).
	StartTime() time.Time
	// UpstreamAddr is the "ip:port" of the last upstream node tried, "" when none was.
	UpstreamAddr() string
	// UpstreamStatus is the last upstream response's status, 0 when none was received.
	UpstreamStatus() int
	// UpstreamLatency is the time from sending the request to the last upstream until its
	// response was read (nginx's $upstream_response_time in the log phase, the head so far
	// in header_filter); negative when no upstream answered.
	UpstreamLatency() time.Duration
	// RequestSize is $request_length: request line, headers and body bytes read.
	RequestSize() int64
	// ResponseSize is $bytes_sent: status line, headers and body written (or being written:
	// in the log phase of a streamed response, exact; before it, what is known).
	ResponseSize() int64
}

// RespHeaderVisitor is implemented by a Ctx that can list the response headers (proxy-cache
// stores them all): fn sees each name and value, repeated headers once per value.
type RespHeaderVisitor interface {
	VisitRespHeaders(fn func(name, value []byte))
}

// VarSetter is implemented by a Ctx on which a plugin may set a variable for the rest of the
// request, as APISIX plugins assign ngx.var / ctx.var: later lookups of that name (other
// plugins' "$var" references, loggers' log_format, the access log) see it. request-id sets
// apisix_request_id this way.
type VarSetter interface {
	SetVar(name string, value []byte)
}
