// Package snapshot turns store events into an immutable Snapshot — router, routes with their
// merged service fields and resolved upstreams, consumers, global rules — and publishes it
// through an atomic pointer, so a request reads one consistent configuration.
package snapshot

import (
	"encoding/json"
	"net/http"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/stream"
	sltls "github.com/sluicegw/sluice/internal/tls"
	"github.com/sluicegw/sluice/internal/upstream"
)

// Snapshot is one immutable configuration. Nothing in it is modified after it is published;
// maps of kinds that did not change are shared with the previous snapshot.
type Snapshot struct {
	Revision int64 // store revision it reflects
	// ModifyIndexes maps an object kind ("routes", "upstreams" ...) to the revision of its
	// latest change (put or delete). Shared between snapshots while unchanged: read only.
	ModifyIndexes map[string]int64
	Router        *router.Router
	Routes        map[string]*Route
	// Errors maps an etcd key to why that object is not served (bad JSON, unknown upstream,
	// a plugin without behaviour ...), for logs and the control API.
	Errors map[string]string

	// Stream is the stream_routes table of the L4 proxy (never nil once built).
	Stream *stream.Table

	// Upstreams are the named upstream objects by id (traffic-split and friends refer to them).
	Upstreams      map[string]*upstream.Upstream
	Services       map[string]*model.Service
	Consumers      map[string]*Consumer // by username
	ConsumerGroups map[string]*model.PluginSet
	GlobalRules    map[string]*GlobalRule
	// SSLs and PluginMetadata stay raw JSON (upstream mTLS and the plugins read them);
	// TLS is the SSLs compiled for the HTTPS listeners (never nil once built).
	SSLs           map[string]json.RawMessage
	TLS            *sltls.Store
	PluginMetadata map[string]json.RawMessage // by plugin name
	// Plugins is the runtime side of the plugins: the global rules' chain, consumers'
	// plugins, auth indexes, and the memo of consumer-merged chains. Never nil once built.
	Plugins *pluginrt.Set

	// table is what the router was built from, in insertion order (for tests and the control API).
	table []router.Route
}

// Route is a route ready to serve: the router's Value points to it.
type Route struct {
	ID        string
	Key       string // etcd key
	Name      string // the route's own name (APISIX does not inherit the service's)
	ServiceID string
	Spec      *model.Route
	Service   *model.Service // nil without service_id
	// Upstream resolved in the order route upstream, route upstream_id, service upstream,
	// service upstream_id. Nil means none: 503.
	Upstream *upstream.Upstream
	// Timeout is the route's own timeout, overriding the upstream's.
	Timeout         *model.Timeout
	EnableWebsocket bool
	// Plugins is the merged plugin set: plugin_config fills names the route lacks, the
	// service's are the base the route overrides.
	Plugins map[string]json.RawMessage
	// Unsupported names a configured plugin this build cannot run (no behaviour, or its
	// conf was refused by New); the route fails closed (503) rather than being proxied
	// without it.
	Unsupported string
	pluginErr   string // why New refused Unsupported's conf, when it did
	// Chain is the compiled plugin chain of Plugins (nil when none runs), sorted by priority.
	Chain *pluginrt.Chain
	// Failure is set when the route matches but cannot be served as configured (its service,
	// plugin_config or upstream_id is missing); the proxy answers Failure.Status, as APISIX
	// does, instead of letting the request fall through to another route.
	Failure *Failure
}

// Failure is why a matched route is answered with an error status instead of being proxied.
type Failure struct {
	Status int    // APISIX's: 404 missing service, 503 missing plugin_config, 502 missing upstream
	Reason string // for the error log
}

// Consumer is a consumer with its credentials.
type Consumer struct {
	Username    string
	Key         string
	Spec        *model.Consumer
	Credentials map[string]*model.Credential // by credential id
}

// GlobalRule is a global rule; like a route it fails closed on a plugin without behaviour.
type GlobalRule struct {
	ID          string
	Key         string
	Plugins     map[string]json.RawMessage
	Unsupported string
}

// failure statuses, as APISIX's access phase answers them.
const (
	statusMissingService      = http.StatusNotFound
	statusMissingPluginConfig = http.StatusServiceUnavailable
	statusMissingUpstream     = http.StatusBadGateway
)

// emptySnapshot is what Load returns before the first publish: nothing matches.
func emptySnapshot(mode router.Mode) *Snapshot {
	r, _ := router.Build(nil, router.Options{Mode: mode})
	return &Snapshot{
		Router:         r,
		Routes:         map[string]*Route{},
		Errors:         map[string]string{},
		Upstreams:      map[string]*upstream.Upstream{},
		Services:       map[string]*model.Service{},
		Consumers:      map[string]*Consumer{},
		ConsumerGroups: map[string]*model.PluginSet{},
		GlobalRules:    map[string]*GlobalRule{},
		SSLs:           map[string]json.RawMessage{},
		TLS:            &sltls.Store{},
		Stream:         stream.NewTable(nil, nil),
		PluginMetadata: map[string]json.RawMessage{},
		Plugins:        &pluginrt.Set{},
	}
}

// Health lists the started health checkers of s's upstreams: named ones, and the inline
// upstreams of routes and services, each once.
func Health(s *Snapshot) []upstream.Health {
	if s == nil {
		return nil
	}
	seen := map[*upstream.Upstream]bool{}
	var out []upstream.Health
	add := func(u *upstream.Upstream) {
		if u == nil || seen[u] {
			return
		}
		seen[u] = true
		if h, ok := u.Health(); ok {
			out = append(out, h)
		}
	}
	for _, u := range s.Upstreams {
		add(u)
	}
	for _, r := range s.Routes {
		add(r.Upstream)
	}
	for _, r := range s.Stream.Routes() {
		add(r.Upstream)
	}
	return out
}
