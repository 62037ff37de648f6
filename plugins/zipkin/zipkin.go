// Package zipkin is APISIX's zipkin plugin: B3 propagation (the x-b3-* headers and the single
// `b3` header) from the client to the upstream, and a span per request with its children,
// reported in Zipkin v2 JSON to a collector through a bounded batching reporter.
package zipkin

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "zipkin",
		Priority:       12011,
		Version:        "0.1",
		Schema:         schema,
		DefaultEnabled: true,
		New:            newZipkin,
	})
}

type config struct {
	Endpoint    string  `json:"endpoint"`
	SampleRatio float64 `json:"sample_ratio"`
	ServiceName *string `json:"service_name"`
	ServerAddr  string  `json:"server_addr"`
	SpanVersion int     `json:"span_version"`
}

// Zipkin is one compiled conf.
type Zipkin struct {
	ratio      float64
	serverAddr string // "": the request's $server_addr
	v1         bool
	rep        *reporter
	// setVar: plugin_attr.zipkin.set_ngx_var, the trace context as variables
	setVar bool
}

func newZipkin(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("zipkin: %w", err)
	}
	name := "APISIX"
	if c.ServiceName != nil {
		name = *c.ServiceName
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	z := &Zipkin{
		ratio:      c.SampleRatio,
		serverAddr: c.ServerAddr,
		v1:         c.SpanVersion == 1,
	}
	if env.Node != nil {
		var attr struct {
			SetNgxVar bool `json:"set_ngx_var"`
		}
		if raw := env.Node.Config("plugin_attr.zipkin"); raw != nil && json.Unmarshal(raw, &attr) == nil {
			z.setVar = attr.SetNgxVar
		}
	}
	z.rep = newReporter(c.Endpoint, name, log)
	return z, nil
}

// Close flushes the spans still queued (bounded) and stops the reporter.
func (z *Zipkin) Close() { z.rep.close() }

// reqState is one request's spans between phases.
type reqState struct {
	sampled bool
	traceID string // lower-case hex
	// The request span's parent (the client's span) and id; proxyID is the span the upstream
	// is told about when sampled.
	parentID, requestID, proxyID uint64
	baggage                      []string // "uberctx-<k>", value pairs, value already escaped
	request, proxy               *span
	// Span version 1's phase spans and version 2's response span.
	rewriteEnd, accessEnd time.Time
	bodyFilter, response  *span
}

type stateKey struct{}

var (
	serverAddrVar = plugin.Var{Kind: plugin.VarServerAddr}
	serverPortVar = plugin.Var{Kind: plugin.VarServerPort}
	remotePortVar = plugin.Var{Kind: plugin.VarRemotePort}
	requestURIVar = plugin.Var{Kind: plugin.VarRequestURI}
)

// Rewrite reads the client's B3 context, decides sampling and starts the request span.
func (z *Zipkin) Rewrite(c plugin.Ctx) {
	ratio := z.ratio
	if v, _ := c.Header("x-b3-flags"); string(v) == "1" {
		ratio = 1
	}
	var traceID, spanID, sampled, parentID string
	if b3, ok := c.Header("b3"); ok {
		b3s := string(b3)
		// Not passed upstream: the x-b3-* headers carry the context from here on.
		c.DelHeader("b3")
		var valid bool
		traceID, spanID, sampled, parentID, valid = parseB3(b3s)
		if !valid {
			c.Exit(400, nil)
			return
		}
		if sampled == "d" {
			c.SetHeader("x-b3-flags", "1")
			sampled = "1"
		}
	} else {
		sampled = headerString(c, "x-b3-sampled")
		traceID = headerString(c, "x-b3-traceid")
		parentID = headerString(c, "x-b3-parentspanid")
		spanID = headerString(c, "x-b3-spanid")
	}

	st := &reqState{requestID: newID()}
	// An absent or malformed trace context starts a new trace, as APISIX's extractor does.
	if tid, sid, ok := validContext(traceID, spanID, parentID); ok {
		st.traceID, st.parentID = tid, sid
		c.VisitHeaders(func(name, value []byte) {
			if len(name) > 8 && strings.EqualFold(string(name[:8]), "uberctx-") {
				v, err := url.QueryUnescape(string(value))
				if err != nil {
					v = string(value)
				}
				st.baggage = append(st.baggage, "uberctx-"+strings.ToLower(string(name[8:])), escapeURI(v))
			}
		})
	} else {
		st.traceID = newTraceID()
	}
	switch sampled {
	case "1", "true":
		ratio = 1
	case "0", "false":
		ratio = 0
	}
	st.sampled = ratio > 0 && mrand.Float64() < ratio
	c.Set(stateKey{}, st)
	if !st.sampled {
		return
	}

	start := c.StartTime()
	local, localPort := z.serverAddr, 0
	if local == "" {
		v, _ := c.Lookup(&serverAddrVar)
		local = string(v)
	}
	if v, ok := c.Lookup(&serverPortVar); ok {
		localPort, _ = strconv.Atoi(string(v))
	}
	method := string(c.Method())
	uri, _ := c.Lookup(&requestURIVar)
	peerPort := 0
	if v, ok := c.Lookup(&remotePortVar); ok {
		peerPort, _ = strconv.Atoi(string(v))
	}
	st.request = &span{traceID: st.traceID, id: st.requestID, parentID: st.parentID, name: "apisix.request",
		server: true, start: start, method: method, url: string(uri), peerIP: c.RemoteAddr().String(),
		peerPort: peerPort, localIP: local, localPort: localPort}
	now := time.Now()
	if z.v1 {
		z.child(st, st.requestID, "apisix.rewrite", start).finish(z, now)
		st.rewriteEnd = now
		return
	}
	st.proxy = z.child(st, st.requestID, "apisix.proxy", start)
	st.proxyID = st.proxy.id
}

func (z *Zipkin) child(st *reqState, parent uint64, name string, start time.Time) *span {
	return &span{traceID: st.traceID, id: newID(), parentID: parent, name: name, start: start,
		localIP: st.request.localIP, localPort: st.request.localPort}
}

func (s *span) finish(z *Zipkin, end time.Time) {
	s.duration = end.Sub(s.start)
	z.rep.report(s)
}

// Access tells the upstream the trace context: the proxy span when sampled, else the
// request span, with x-b3-sampled 1 or 0 and the client's baggage.
func (z *Zipkin) Access(c plugin.Ctx) {
	st, _ := c.Get(stateKey{}).(*reqState)
	if st == nil {
		return
	}
	if st.sampled && z.v1 {
		now := time.Now()
		z.child(st, st.requestID, "apisix.access", st.rewriteEnd).finish(z, now)
		st.accessEnd = now
		st.proxy = z.child(st, st.requestID, "apisix.proxy", now)
		st.proxyID = st.proxy.id
	}
	id, parent, sampled := st.requestID, st.parentID, "0"
	if st.sampled {
		id, parent, sampled = st.proxyID, st.requestID, "1"
	}
	c.SetHeader("x-b3-traceid", st.traceID)
	if parent != 0 {
		c.SetHeader("x-b3-parentspanid", spanIDHex(parent))
	} else {
		c.DelHeader("x-b3-parentspanid")
	}
	c.SetHeader("x-b3-spanid", spanIDHex(id))
	c.SetHeader("x-b3-sampled", sampled)
	for i := 0; i+1 < len(st.baggage); i += 2 {
		c.SetHeader(st.baggage[i], st.baggage[i+1])
	}
	if z.setVar {
		z.setVars(c, st)
	}
}

// setVars is plugin_attr.zipkin.set_ngx_var: the request span's context as variables, as
// APISIX sets zipkin_context_traceparent, zipkin_trace_id and zipkin_span_id.
func (z *Zipkin) setVars(c plugin.Ctx, st *reqState) {
	vs, ok := c.(plugin.VarSetter)
	if !ok {
		return
	}
	sid := spanIDHex(st.requestID)
	flags := "00"
	if st.sampled {
		flags = "01"
	}
	vs.SetVar("zipkin_context_traceparent", []byte("00-"+st.traceID+"-"+sid+"-"+flags))
	vs.SetVar("zipkin_trace_id", []byte(st.traceID))
	vs.SetVar("zipkin_span_id", []byte(sid))
}

// HeaderFilter ends the proxy span (version 2) and starts the response span.
func (z *Zipkin) HeaderFilter(c plugin.Ctx) {
	st, _ := c.Get(stateKey{}).(*reqState)
	if st == nil || !st.sampled {
		return
	}
	now := time.Now()
	if z.v1 {
		if st.proxy != nil {
			st.bodyFilter = z.child(st, st.proxy.id, "apisix.body_filter", now)
		}
		return
	}
	if st.proxy != nil {
		st.proxy.finish(z, now)
	}
	st.response = z.child(st, st.requestID, "apisix.response_span", now)
}

// Log ends the remaining spans; the request span gets the status.
func (z *Zipkin) Log(c plugin.Ctx) {
	st, _ := c.Get(stateKey{}).(*reqState)
	if st == nil || !st.sampled {
		return
	}
	now := time.Now()
	if z.v1 {
		if st.bodyFilter != nil {
			st.bodyFilter.finish(z, now)
		}
		if st.proxy != nil {
			st.proxy.finish(z, now)
		}
	} else if st.response != nil {
		st.response.finish(z, now)
	}
	r := st.request
	r.status, r.source = c.UpstreamStatus(), "upstream"
	if r.status == 0 {
		r.status, r.source = c.Status(), "apisix"
	}
	r.finish(z, now)
}

// parseB3 splits the single b3 header: "0" (not sampled) or
// traceid-spanid[-sampled[-parentspanid]]. Fewer than two parts is invalid.
func parseB3(b3 string) (traceID, spanID, sampled, parentID string, ok bool) {
	if b3 == "0" {
		return "", "", "0", "", true
	}
	parts := strings.SplitN(b3, "-", 4)
	if len(parts) < 2 {
		return "", "", "", "", false
	}
	traceID, spanID = parts[0], parts[1]
	if len(parts) > 2 {
		sampled = parts[2]
	}
	if len(parts) > 3 {
		parentID = parts[3]
	}
	return traceID, spanID, sampled, parentID, true
}

// validContext checks the client's ids as APISIX does (trace id 16 or 32 hex digits, span and
// parent ids 16) and returns the trace id in lower case and the client's span id.
func validContext(traceID, spanID, parentID string) (string, uint64, bool) {
	if traceID == "" || (len(traceID) != 16 && len(traceID) != 32) || !isHex(traceID) {
		return "", 0, false
	}
	if parentID != "" && (len(parentID) != 16 || !isHex(parentID)) {
		return "", 0, false
	}
	var sid uint64
	if spanID != "" {
		if len(spanID) != 16 || !isHex(spanID) {
			return "", 0, false
		}
		sid, _ = strconv.ParseUint(spanID, 16, 64)
	}
	return strings.ToLower(traceID), sid, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

func headerString(c plugin.Ctx, name string) string {
	v, _ := c.Header(name)
	return string(v)
}

func newID() uint64 {
	for {
		if id := mrand.Uint64(); id != 0 {
			return id
		}
	}
}

func newTraceID() string {
	var b [16]byte
	hi, lo := newID(), mrand.Uint64()
	for i := 7; i >= 0; i-- {
		b[i], b[8+i] = byte(hi), byte(lo)
		hi >>= 8
		lo >>= 8
	}
	return hex.EncodeToString(b[:])
}

// escapeURI is ngx.escape_uri: everything but unreserved characters percent-encoded.
func escapeURI(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

var (
	_ plugin.Rewriter       = (*Zipkin)(nil)
	_ plugin.Accessor       = (*Zipkin)(nil)
	_ plugin.HeaderFilterer = (*Zipkin)(nil)
	_ plugin.Logger         = (*Zipkin)(nil)
	_ plugin.Closer         = (*Zipkin)(nil)
)
