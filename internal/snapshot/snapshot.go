// Package snapshot turns store events into an immutable Snapshot — router, routes with their
// merged service fields and resolved upstreams, consumers, global rules — and publishes it
// through an atomic pointer, so a request reads one consistent configuration.
package snapshot

import (
	"encoding/json"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/upstream"
)

// Snapshot is one immutable configuration. Nothing in it is modified after it is published.
type Snapshot struct {
	Revision int64 // store revision it reflects
	Router   *router.Router
	Routes   map[string]*Route
	// Errors maps an etcd key to why that object is not served (bad JSON, unknown upstream,
	// a plugin without behaviour ...), for logs and the control API.
	Errors map[string]string
}

// Route is a route ready to serve: the router's Value points to it.
type Route struct {
	ID        string
	Key       string // etcd key
	Name      string
	ServiceID string
	Spec      *model.Route
	// Upstream resolved in APISIX's order: route upstream, route upstream_id, service upstream,
	// service upstream_id. Nil means none: 503.
	Upstream *upstream.Upstream
	// Timeout is the route's own timeout, overriding the upstream's.
	Timeout         *model.Timeout
	EnableWebsocket bool
	// Plugins is the merged plugin set: plugin_config fills names the route lacks, the
	// service's are the base the route overrides.
	Plugins map[string]json.RawMessage
	// Unsupported names a configured plugin this build cannot run; the route fails closed
	// (503) rather than being proxied without it.
	Unsupported string
}
