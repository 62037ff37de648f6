package plugin

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"time"
)

// A plugin instance is what Definition.New returns for one configured use (one route's,
// service's, consumer's or global rule's conf). It implements only the phase interfaces it
// needs; the runtime calls them in APISIX's order, by priority, high first:
//
//	rewrite → access → before_proxy (again on every retry) → header_filter → body_filter → log
//
// A phase ends the request by calling Ctx.Exit; header_filter, body_filter and log still run.
type (
	Rewriter       interface{ Rewrite(c Ctx) }
	Accessor       interface{ Access(c Ctx) }
	BeforeProxier  interface{ BeforeProxy(c Ctx) }
	HeaderFilterer interface{ HeaderFilter(c Ctx) }
	// BodyFilterer sees the response body one chunk at a time; it returns the bytes to send
	// in place of chunk (chunk itself to pass it through). eof marks the last call.
	BodyFilterer interface {
		BodyFilter(c Ctx, chunk []byte, eof bool) []byte
	}
	// Logger runs after the response was handed to the client; it may only enqueue work and
	// must copy what it keeps.
	Logger interface{ Log(c Ctx) }
	// Closer releases what an instance holds once no snapshot and no request uses it.
	Closer interface{ Close() }
)

// Env is what New gets besides the conf.
type Env struct {
	// Parent is the etcd key of the object the conf belongs to ("/apisix/routes/1",
	// "/apisix/consumers/jack", "/apisix/global_rules/1"); stateful plugins key shared state
	// by it, as APISIX's _meta.parent.
	Parent string
	// Metadata is the plugin's plugin_metadata object, nil when none is set.
	Metadata json.RawMessage
	Logger   *slog.Logger
	// Shared is what the plugin's Definition.Start returned on this node (nil without Start).
	Shared any
	// Node is the gateway process (nil where no data plane runs: Admin API validation).
	Node Node
	// NewUpstream compiles an upstream object's JSON (the Admin API's upstream schema, inline
	// form) into an upstream a request can be sent to with UpstreamSetter.SetUpstream.
	// Call it from New only.
	// Nil where no data plane runs (Admin API validation).
	NewUpstream func(conf json.RawMessage) (Upstream, error)
}

// Consumer is an authenticated identity.
type Consumer struct {
	Username string
	GroupID  string
	Labels   map[string]string
	// CredentialID is set when the request matched a credential object rather than the
	// consumer's own plugin conf.
	CredentialID string
}

// Credential is one auth plugin conf held by a consumer or by one of its credential objects.
type Credential struct {
	Consumer *Consumer
	Conf     json.RawMessage // the plugin's consumer_schema conf, decrypted
	// Plugin names the auth plugin Conf belongs to. A runtime sets it when it hands one
	// plugin's Index credentials of other plugins too (multi-auth indexes its sub-plugins);
	// empty means the plugin being indexed.
	Plugin string
}

// Ctx is the request as a plugin sees it in one phase, independent of the HTTP engine.
// Byte slices it returns are valid only until the phase returns.
type Ctx interface {
	Vars
	RequestInfo

	// The client request (as it will be forwarded, after earlier plugins' changes).
	Method() []byte
	URI() []byte        // $uri: the normalized path, no query
	RequestURI() []byte // path and query as they will be sent upstream
	Host() []byte       // without port, lower-case
	RemoteAddr() netip.Addr
	Scheme() string
	Header(name string) ([]byte, bool) // first value; name case-insensitive
	VisitHeaders(fn func(name, value []byte))
	SetHeader(name, value string)
	AddHeader(name, value string)
	DelHeader(name string)
	Arg(name string) ([]byte, bool)
	SetArg(name, value string)
	DelArg(name string)
	Cookie(name string) ([]byte, bool)
	// Body reads the request body, buffered up to a bound the runtime enforces.
	Body() ([]byte, error)
	SetBody(b []byte)
	SetURI(path string) // the upstream path (query kept unless SetRequestURI is used)
	SetRequestURI(uri string)
	SetMethod(method string)
	SetUpstreamHost(host string) // the Host sent upstream

	// Exit ends the request with status and body (nil body: nginx's page for the status).
	// Headers set with SetRespHeader before or after stay on the response.
	Exit(status int, body []byte)
	Exited() bool

	// The response (upstream's or the exit's). Setters called in rewrite/access apply to the
	// response finally written, as APISIX's core.response.set_header does.
	Status() int
	SetStatus(code int)
	RespHeader(name string) ([]byte, bool)
	SetRespHeader(name, value string)
	AddRespHeader(name, value string)
	DelRespHeader(name string)

	// Identity.
	RouteID() string
	ServiceID() string
	Consumer() *Consumer
	// AttachConsumer records the authenticated consumer; the runtime then merges its (and its
	// group's) plugins into the chain.
	AttachConsumer(c *Consumer)
	// Credentials returns the index the running auth plugin built with its Definition.Index
	// for the current snapshot (nil when it has none).
	Credentials() any

	// Per-request values shared between phases (and plugins) of this request.
	Set(key any, value any)
	Get(key any) any
}

// RemoteAddrSetter is implemented by a Ctx whose client address a plugin may replace, as
// nginx's realip module does (APISIX's real-ip plugin): $remote_addr, $remote_port,
// RemoteAddr and everything derived later (X-Real-IP and X-Forwarded-For sent upstream,
// ip-restriction, limit-* keys, loggers) follow the new address; $realip_remote_addr keeps
// the TCP peer. port 0 means the value carried none ($remote_port is then empty). It is an
// optional interface so that other implementations of Ctx keep compiling; check for it with
// a type assertion.
type RemoteAddrSetter interface {
	SetRemoteAddr(addr netip.Addr, port uint16)
}

// BodyLimiter is implemented by a Ctx whose request body limit a plugin may set for the current
// request, as client-control sets nginx's client_max_body_size in rewrite: a body that turns
// out longer than n bytes while it is read (chunked) is answered 413; 0 lifts the limit. The
// gateway-wide limit (nginx_config.http.client_max_body_size) has already refused a longer
// Content-Length before any plugin ran, as nginx does. Optional, like RemoteAddrSetter.
type BodyLimiter interface {
	SetMaxBodySize(n int64)
}

// StreamCtx is a stream (L4) connection as a plugin's stream phases see it: APISIX's stream
// subsystem, where a plugin decides before any byte reaches a node (preread) and looks back
// once the connection is over (log). Vars answers remote_addr, remote_port, server_addr,
// server_port, route_id, route_name and status.
type StreamCtx interface {
	Vars
	RemoteAddr() netip.Addr
	// SNI is the server name the client sent on a TLS stream listener ("" otherwise).
	SNI() string
	RouteID() string
	// Exit closes the connection in preread instead of proxying it; status is what logs and
	// metrics record ($status). The body is ignored: there is no response to carry it.
	Exit(status int, body []byte)
	Exited() bool
	// Status is $status: 200 for a proxied connection, the Exit status, 502 or 503 when no
	// node could be reached.
	Status() int
	StartTime() time.Time
	// Set and Get keep per-connection values between preread and log.
	Set(key any, value any)
	Get(key any) any
}

type (
	// StreamPrereader runs on stream routes before the connection is proxied (APISIX's
	// preread phase); it may Exit.
	StreamPrereader interface{ Preread(c StreamCtx) }
	// StreamLogger runs once a stream connection is over, for every connection whose
	// preread ran (also one a plugin ended).
	StreamLogger interface{ StreamLog(c StreamCtx) }
)
