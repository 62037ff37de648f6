package proxy

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/internal/pluginrt"
	"github.com/sluicegw/sluice/plugin"
)

// plugin.Ctx on the HTTP/1.1 engine's reqCtx. Plugins change the client's request in place
// (fasthttp's header, rc.upstreamPath and rc.query): buildUpstreamRequest copies it to the
// upstream request after the request phases, so every change reaches the node.

// pluginBodyLimit bounds a request body a plugin buffers with Ctx.Body.
const pluginBodyLimit = 1 << 20

var errBodyTooLarge = errors.New("request body larger than " + strconv.Itoa(pluginBodyLimit>>20) + " MiB: not buffered")

// pluginState is the plugin side of one request.
type pluginState struct {
	rt     pluginrt.State
	exited bool
	// own: the response is one the gateway made itself without an exit (its 502/503/504
	// pages, a refused request body): it goes through the filters like an exit's.
	own bool
	// lengthDropped: a plugin removed Content-Length (gzip, brotli, response-rewrite and
	// echo do when they re-encode or replace the body): like nginx, the body then goes out
	// without a length (chunked on HTTP/1.1).
	lengthDropped bool
	// upstream is set once the upstream's response head was copied: response header
	// setters then apply to it directly; before, they are also recorded and replayed onto it
	// (headers set in rewrite/access persist onto the proxied response, as in APISIX).
	upstream bool
	respOps  []respHeaderOp

	body       []byte
	bodyRead   bool
	bodyErr    error
	bodyReader bytes.Reader
	queryBuf   []byte
	reqURIBuf  []byte

	// streamed body filtering (filterStream)
	pending     []byte
	eofFiltered bool

	// variables plugins set (plugin.VarSetter): names and values, values in varBuf
	setVars []setVar
	varBuf  []byte
}

type setVar struct {
	name       string
	start, end int // in varBuf
}

type respHeaderOp struct {
	op          uint8 // opSet, opAdd, opDel
	name, value string
}

const (
	opSet uint8 = iota
	opAdd
	opDel
)

// recycle returns the state cleared for the pool, keeping its buffers.
func (ps *pluginState) recycle() pluginState {
	ps.rt.Reset()
	clear(ps.respOps)
	ps.bodyReader.Reset(nil)
	return pluginState{
		rt:        ps.rt,
		respOps:   ps.respOps[:0],
		body:      ps.body[:0],
		queryBuf:  ps.queryBuf[:0],
		reqURIBuf: ps.reqURIBuf[:0],
		pending:   ps.pending[:0],
		setVars:   ps.setVars[:0],
		varBuf:    ps.varBuf[:0],
	}
}

// setVar records a plugin's variable (the latest value of a name wins).
func (ps *pluginState) setVar(name string, value []byte) {
	start := len(ps.varBuf)
	ps.varBuf = append(ps.varBuf, value...)
	for i := range ps.setVars {
		if ps.setVars[i].name == name {
			ps.setVars[i].start, ps.setVars[i].end = start, len(ps.varBuf)
			return
		}
	}
	ps.setVars = append(ps.setVars, setVar{name: name, start: start, end: len(ps.varBuf)})
}

// lookupSet finds a variable a plugin set.
func (ps *pluginState) lookupSet(name string) ([]byte, bool) {
	for i := range ps.setVars {
		if v := &ps.setVars[i]; v.name == name {
			return ps.varBuf[v.start:v.end:v.end], true
		}
	}
	return nil, false
}

// SetVar implements plugin.VarSetter.
func (rc *reqCtx) SetVar(name string, value []byte) { rc.plug.setVar(name, value) }
func (hc *h2Ctx) SetVar(name string, value []byte)  { hc.plug.setVar(name, value) }

var (
	_ plugin.VarSetter = (*reqCtx)(nil)
	_ plugin.VarSetter = (*h2Ctx)(nil)
)

var _ plugin.Ctx = (*reqCtx)(nil)

func (rc *reqCtx) Method() []byte { return rc.fc.Request.Header.Method() }
func (rc *reqCtx) URI() []byte    { return rc.matchPath }
func (rc *reqCtx) RequestURI() []byte {
	return rc.plug.requestURI(rc.upstreamPath, rc.query)
}
func (rc *reqCtx) Host() []byte           { return rc.host }
func (rc *reqCtx) RemoteAddr() netip.Addr { return rc.remote }
func (rc *reqCtx) Scheme() string         { return rc.scheme }

func (rc *reqCtx) Header(name string) ([]byte, bool) {
	return present(rc.fc.Request.Header.Peek(name))
}

func (rc *reqCtx) VisitHeaders(fn func(name, value []byte)) {
	for k, v := range rc.fc.Request.Header.All() {
		fn(k, v)
	}
}

func (rc *reqCtx) SetHeader(name, value string) {
	if strings.EqualFold(name, "Cookie") {
		// fasthttp parses a set Cookie into its cookie list, appending to what is there
		rc.fc.Request.Header.Del(name)
	}
	rc.fc.Request.Header.Set(name, value)
}
func (rc *reqCtx) AddHeader(name, value string) { rc.fc.Request.Header.Add(name, value) }
func (rc *reqCtx) DelHeader(name string)        { rc.fc.Request.Header.Del(name) }

func (rc *reqCtx) Arg(name string) ([]byte, bool) {
	return queryArg(rc.fc.QueryArgs(), name)
}

func (rc *reqCtx) SetArg(name, value string) {
	rc.fc.QueryArgs().Set(name, value)
	rc.syncQuery()
}

func (rc *reqCtx) DelArg(name string) {
	rc.fc.QueryArgs().Del(name)
	rc.syncQuery()
}

// syncQuery re-encodes the parsed query args into the query forwarded upstream.
func (rc *reqCtx) syncQuery() { rc.query = rc.plug.encodeQuery(rc.fc.QueryArgs()) }

func (rc *reqCtx) Cookie(name string) ([]byte, bool) {
	return present(rc.fc.Request.Header.Cookie(name))
}

// Body buffers the request body (up to pluginBodyLimit) and puts it back as the body that is
// forwarded. A longer body is an error, and the request can no longer be forwarded intact:
// it is answered 413 unless the plugin ends it itself.
func (rc *reqCtx) Body() ([]byte, error) {
	ps := &rc.plug
	if ps.bodyRead {
		return ps.body, ps.bodyErr
	}
	ps.bodyRead = true
	fc := rc.fc
	cl := fc.Request.Header.ContentLength()
	if cl == 0 || cl < -1 {
		return nil, nil
	}
	if cl > pluginBodyLimit {
		ps.bodyErr = errBodyTooLarge // nothing read: the body still forwards intact
		return nil, ps.bodyErr
	}
	src := fc.RequestBodyStream()
	if src == nil {
		ps.body = append(ps.body[:0], fc.Request.Body()...)
		return ps.body, nil
	}
	// rc.body is free until forward's prepareBody, which reads the body put back here
	rc.body = clientBody{r: src, conn: fc.Conn(), timeout: rc.srv.opts.ClientBodyTimeout, limit: &rc.maxBody}
	buf, err := ps.readBody(&rc.body)
	if err != nil {
		return nil, err
	}
	rc.setBodyStream(buf)
	return buf, nil
}

func (rc *reqCtx) setBodyStream(b []byte) {
	rc.plug.bodyReader.Reset(b)
	rc.fc.Request.SetBodyStream(&rc.plug.bodyReader, len(b))
}

// SetBody replaces the forwarded request body; the client's, if unread, is replaced unread
// (fasthttp still drains it off the connection).
func (rc *reqCtx) SetBody(b []byte) { rc.setBodyStream(rc.plug.replaceBody(b)) }

// SetMaxBodySize sets client_max_body_size for this request (plugin.BodyLimiter).
func (rc *reqCtx) SetMaxBodySize(n int64) { rc.maxBody = n }

// bodyBroken reports a request whose body was partly consumed by a failed Body call.
func (ps *pluginState) bodyBroken() bool {
	return ps.bodyErr != nil && len(ps.body) > 0
}

func (rc *reqCtx) SetURI(path string) {
	rc.upstreamPath = append(rc.upstreamPath[:0], path...)
}

func (rc *reqCtx) SetRequestURI(uri string) {
	path, query, hasQuery := cutString(uri, '?')
	rc.upstreamPath = append(rc.upstreamPath[:0], path...)
	if hasQuery {
		rc.plug.queryBuf = append(rc.plug.queryBuf[:0], query...)
		if rc.plug.queryBuf == nil {
			rc.plug.queryBuf = []byte{} // "path?" keeps its '?', whatever the pooled buffer held
		}
		rc.query = rc.plug.queryBuf
	} else {
		rc.query = nil
	}
	rc.fc.QueryArgs().Parse(query)
}

func cutString(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (rc *reqCtx) SetMethod(method string) { rc.fc.Request.Header.SetMethod(method) }

// SetUpstreamHost sets the Host forwarded with pass_host "pass" (the default).
func (rc *reqCtx) SetUpstreamHost(host string) { rc.fc.Request.Header.SetHost(host) }

// Exit answers the request now: status and body (nil: nginx's page for the status; 200:
// empty). Headers set before stay.
func (rc *reqCtx) Exit(status int, body []byte) {
	rc.plug.exited = true
	fc := rc.fc
	fc.SetStatusCode(status)
	switch {
	case body != nil:
		if len(fc.Response.Header.ContentType()) == 0 {
			fc.Response.Header.SetContentType("text/plain")
		}
		fc.Response.SetBody(body)
	case status == fasthttp.StatusOK:
		fc.Response.ResetBody()
	default:
		setPageCopy(fc, status)
	}
}

func (rc *reqCtx) Exited() bool { return rc.plug.exited }

func (rc *reqCtx) Status() int        { return rc.fc.Response.StatusCode() }
func (rc *reqCtx) SetStatus(code int) { rc.fc.SetStatusCode(code) }

func (rc *reqCtx) RespHeader(name string) ([]byte, bool) {
	v, ok := present(rc.fc.Response.Header.Peek(name))
	// fasthttp keeps these in fields a reset truncates instead of nil-ing (so a pooled
	// response reports them present and empty) and never writes them empty: empty is absent.
	if ok && len(v) == 0 && (strings.EqualFold(name, "Content-Encoding") || strings.EqualFold(name, "Content-Length")) {
		return nil, false
	}
	return v, ok
}

func (rc *reqCtx) SetRespHeader(name, value string) { rc.respHeader(opSet, name, value) }
func (rc *reqCtx) AddRespHeader(name, value string) { rc.respHeader(opAdd, name, value) }
func (rc *reqCtx) DelRespHeader(name string)        { rc.respHeader(opDel, name, "") }

func (rc *reqCtx) respHeader(op uint8, name, value string) {
	o := respHeaderOp{op, name, value}
	rc.plug.recordRespOp(o)
	applyRespOp(&rc.fc.Response.Header, o)
}

func isContentLength(name string) bool {
	return len(name) == 14 && strings.EqualFold(name, "Content-Length")
}

func applyRespOp(h *fasthttp.ResponseHeader, o respHeaderOp) {
	switch o.op {
	case opSet:
		h.Set(o.name, o.value)
	case opAdd:
		h.Add(o.name, o.value)
	case opDel:
		h.Del(o.name)
	}
}

// replayRespHeaders applies the response headers set before forwarding onto the upstream's
// response head, which replaced them.
func (rc *reqCtx) replayRespHeaders() {
	rc.plug.upstream = true
	for _, o := range rc.plug.respOps {
		applyRespOp(&rc.fc.Response.Header, o)
	}
}

func (rc *reqCtx) RouteID() string   { return routeID(rc.route) }
func (rc *reqCtx) ServiceID() string { return routeServiceID(rc.route) }

func (rc *reqCtx) Consumer() *plugin.Consumer        { return rc.plug.rt.Consumer() }
func (rc *reqCtx) AttachConsumer(c *plugin.Consumer) { rc.plug.rt.AttachConsumer(c) }
func (rc *reqCtx) Credentials() any                  { return rc.plug.rt.Credentials() }
func (rc *reqCtx) Set(key, value any)                { rc.plug.rt.Set(key, value) }
func (rc *reqCtx) Get(key any) any                   { return rc.plug.rt.Get(key) }
