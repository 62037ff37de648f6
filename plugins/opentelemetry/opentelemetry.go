// Package opentelemetry is APISIX's opentelemetry plugin: a SERVER span per request, exported
// over OTLP/HTTP (protobuf) to a collector, with W3C trace context taken from the client and
// passed to the upstream so its spans are children of the gateway's.
//
// Where spans go comes from the plugin_metadata object, as in APISIX 3.x; without one, from
// plugin_attr.opentelemetry in config.yaml, else from the metadata schema's defaults. The
// exporters live on the node (Definition.Start) and are shared by every route with the same
// configuration.
package opentelemetry

import (
	"context"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/opentelemetry.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// APISIX writes resource's and request_headers' value alternatives as a Lua list (and once as
// `one_of`), which its validator ignores; they are spelled here as the anyOf they mean.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "opentelemetry",
		Priority:       12009,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		New:            newOpenTelemetry,
		Start:          startTracers,
	})
}

type samplerConf struct {
	Name    string `json:"name"`
	Options struct {
		Fraction float64 `json:"fraction"`
		Root     *struct {
			Name    string `json:"name"`
			Options struct {
				Fraction float64 `json:"fraction"`
			} `json:"options"`
		} `json:"root"`
	} `json:"options"`
}

type config struct {
	Sampler                          samplerConf `json:"sampler"`
	AdditionalAttributes             []string    `json:"additional_attributes"`
	AdditionalHeaderPrefixAttributes []string    `json:"additional_header_prefix_attributes"`
}

// headerAttr is one additional_header_prefix_attributes entry: an exact request header name,
// or a prefix of lower-case header names (trailing `*`), as APISIX matches them.
type headerAttr struct {
	name   string // the attribute key for an exact match: the entry as written
	lower  string // the header name to match, lower-case (exact) or as written (prefix)
	prefix bool
}

type varAttr struct {
	key string
	v   plugin.Var
}

// OpenTelemetry is one compiled conf.
type OpenTelemetry struct {
	params      requestParams
	varAttrs    []varAttr
	headerAttrs []headerAttr
	prov        *provider // nil: inert (no data plane, or no tracer could be built)
}

var (
	requestURIVar = plugin.Var{Kind: plugin.VarRequestURI}
	routeNameVar  = plugin.Var{Kind: plugin.VarRouteName}
	serviceName   = plugin.Var{Kind: plugin.VarServiceName}
	// matchedURIVar is the uri pattern of the route that matched (APISIX's
	// curr_req_matched._path), which names the span and fills http.route.
	matchedURIVar = plugin.Var{Kind: plugin.VarUnknown, Name: "matched_uri"}
	propagator    = propagation.TraceContext{}
)

func newOpenTelemetry(raw json.RawMessage, env plugin.Env) (any, error) {
	c := config{Sampler: samplerConf{Name: "always_off"}}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("opentelemetry: %w", err)
	}
	if c.Sampler.Name == "" {
		c.Sampler.Name = "always_off"
	}
	o := &OpenTelemetry{}
	o.params.sampler = newSampler(c.Sampler)
	for _, name := range c.AdditionalAttributes {
		o.varAttrs = append(o.varAttrs, varAttr{key: name, v: plugin.ParseVar(name)})
	}
	for _, name := range c.AdditionalHeaderPrefixAttributes {
		if len(name) >= 2 && name[len(name)-1] == '*' {
			o.headerAttrs = append(o.headerAttrs, headerAttr{lower: name[:len(name)-1], prefix: true})
		} else {
			o.headerAttrs = append(o.headerAttrs, headerAttr{name: name, lower: strings.ToLower(name)})
		}
	}
	if env.Node == nil {
		return o, nil // Admin API validation: nothing runs
	}
	t, ok := env.Shared.(*tracers)
	if !ok {
		if env.Logger != nil {
			env.Logger.Warn("opentelemetry: the node did not start the plugin; spans are not recorded")
		}
		return o, nil
	}
	p, err := t.acquire(env.Metadata)
	if err != nil {
		return nil, err
	}
	o.prov = p
	return o, nil
}

// Close gives the instance's provider reference back; the provider is shut down (its queue
// flushed) when no instance uses it any more.
func (o *OpenTelemetry) Close() {
	if o.prov != nil {
		o.prov.release()
		o.prov = nil
	}
}

// reqState is what the log phase needs from rewrite.
type reqState struct {
	span   trace.Span
	params requestParams
}

type stateKey struct{}

// headerCarrier lets the W3C propagator read the client's headers and write the upstream's.
type headerCarrier struct{ c plugin.Ctx }

func (h headerCarrier) Get(key string) string {
	v, _ := h.c.Header(key)
	return string(v)
}
func (h headerCarrier) Set(key, value string) { h.c.SetHeader(key, value) }
func (h headerCarrier) Keys() []string        { return nil }

// Rewrite starts the request's SERVER span (a child of the client's traceparent, if any) and
// sends its context upstream as traceparent/tracestate.
func (o *OpenTelemetry) Rewrite(c plugin.Ctx) {
	p := o.prov
	if p == nil {
		return
	}
	st := &reqState{params: o.params}
	if p.traceIDFromRequestID {
		if id, ok := c.Header("x-request-id"); ok {
			st.params.traceID, st.params.hasTraceID = parseTraceID(id)
		}
	}
	ctx := context.WithValue(context.Background(), requestKey{}, &st.params)
	ctx = propagator.Extract(ctx, headerCarrier{c})

	method := string(c.Method())
	name := method
	attrs := make([]attribute.KeyValue, 0, 16)
	host := string(c.Host())
	target, _ := c.Lookup(&requestURIVar)
	ua, hasUA := c.Header("User-Agent")
	attrs = append(attrs,
		attribute.String("net.host.name", host),
		attribute.String("http.method", method),
		attribute.String("http.scheme", c.Scheme()),
		attribute.String("http.target", string(target)),
	)
	if hasUA {
		attrs = append(attrs, attribute.String("http.user_agent", string(ua)))
	}
	attrs = append(attrs,
		attribute.String("http.request.method", method),
		attribute.String("url.scheme", c.Scheme()),
		attribute.String("url.path", string(c.URI())),
	)
	if hasUA {
		attrs = append(attrs, attribute.String("user_agent.original", string(ua)))
	}
	if id := c.RouteID(); id != "" {
		rn, _ := c.Lookup(&routeNameVar)
		attrs = append(attrs, attribute.String("apisix.route_id", id), attribute.String("apisix.route_name", string(rn)))
		if path, ok := c.Lookup(&matchedURIVar); ok && len(path) > 0 {
			attrs = append(attrs, attribute.String("http.route", string(path)))
			name = method + " " + string(path)
		}
	}
	if id := c.ServiceID(); id != "" {
		sn, _ := c.Lookup(&serviceName)
		attrs = append(attrs, attribute.String("apisix.service_id", id), attribute.String("apisix.service_name", string(sn)))
	}

	ctx, span := p.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(c.StartTime()),
		trace.WithAttributes(attrs...))
	st.span = span
	c.Set(stateKey{}, st)
	propagator.Inject(ctx, headerCarrier{c})
	if p.setVar {
		setSpanVars(c, span.SpanContext())
	}
}

// setSpanVars is set_ngx_var: the span's context as variables for loggers and the access log.
func setSpanVars(c plugin.Ctx, sc trace.SpanContext) {
	vs, ok := c.(plugin.VarSetter)
	if !ok {
		return
	}
	tid, sid := sc.TraceID().String(), sc.SpanID().String()
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	vs.SetVar("opentelemetry_context_traceparent", []byte("00-"+tid+"-"+sid+"-"+flags))
	vs.SetVar("opentelemetry_trace_id", []byte(tid))
	vs.SetVar("opentelemetry_span_id", []byte(sid))
}

// Log adds the response's attributes and ends the span.
func (o *OpenTelemetry) Log(c plugin.Ctx) {
	st, _ := c.Get(stateKey{}).(*reqState)
	if st == nil {
		return
	}
	span := st.span
	if !span.IsRecording() {
		span.End()
		return
	}
	status, source := c.UpstreamStatus(), "upstream"
	if status == 0 {
		status, source = c.Status(), "apisix"
	}
	attrs := make([]attribute.KeyValue, 0, 3+len(o.varAttrs)+len(o.headerAttrs))
	attrs = append(attrs,
		attribute.String("apisix.response_source", source),
		attribute.Int("http.status_code", status),
		attribute.Int("http.response.status_code", status),
	)
	for i := range o.varAttrs {
		if v, ok := c.Lookup(&o.varAttrs[i].v); ok {
			attrs = append(attrs, attribute.String(o.varAttrs[i].key, string(v)))
		}
	}
	if len(o.headerAttrs) > 0 {
		attrs = o.appendHeaderAttrs(c, attrs)
	}
	span.SetAttributes(attrs...)
	if status >= 500 {
		span.SetStatus(codes.Error, source+" error: "+strconv.Itoa(status))
	}
	span.End(trace.WithTimestamp(time.Now()))
}

// appendHeaderAttrs adds the configured request headers, several values of one header
// joined with ", ".
func (o *OpenTelemetry) appendHeaderAttrs(c plugin.Ctx, attrs []attribute.KeyValue) []attribute.KeyValue {
	type found struct{ key, val string }
	var hits []found
	add := func(key, val string) {
		for i := range hits {
			if hits[i].key == key {
				hits[i].val += ", " + val
				return
			}
		}
		hits = append(hits, found{key, val})
	}
	c.VisitHeaders(func(name, value []byte) {
		lname := strings.ToLower(string(name))
		for _, h := range o.headerAttrs {
			switch {
			case h.prefix && strings.HasPrefix(lname, h.lower):
				add(lname, string(value))
			case !h.prefix && lname == h.lower:
				add(h.name, string(value))
			}
		}
	})
	for _, h := range hits {
		attrs = append(attrs, attribute.String(h.key, h.val))
	}
	return attrs
}

// parseTraceID reads X-Request-Id as a trace id: 32 hex digits, not all zero.
func parseTraceID(b []byte) (trace.TraceID, bool) {
	var id trace.TraceID
	if len(b) != 32 {
		return id, false
	}
	if _, err := hex.Decode(id[:], b); err != nil {
		return trace.TraceID{}, false
	}
	return id, id.IsValid()
}

var (
	_ plugin.Rewriter = (*OpenTelemetry)(nil)
	_ plugin.Logger   = (*OpenTelemetry)(nil)
	_ plugin.Closer   = (*OpenTelemetry)(nil)
)
