package proxy

import (
	"bytes"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/plugin"
)

// plugin.Ctx on the HTTP/2 engine's h2Ctx. Plugins change the client's *http.Request in
// place (its Header, Host, Method and Body, with hc.method, hc.upstreamPath and hc.query):
// both forwarders build the upstream request from it after the request phases, so every
// change reaches HTTP/1.1 and gRPC nodes alike. Response headers live in the
// ResponseWriter's map; those set before forwarding are recorded and replayed onto the
// upstream's head, as on HTTP/1.1 (pluginctx.go).

var _ plugin.Ctx = (*h2Ctx)(nil)

func (hc *h2Ctx) Method() []byte { return hc.method }
func (hc *h2Ctx) URI() []byte    { return hc.matchPath }
func (hc *h2Ctx) RequestURI() []byte {
	return hc.plug.requestURI(hc.upstreamPath, hc.query)
}
func (hc *h2Ctx) Host() []byte                      { return hc.host }
func (hc *h2Ctx) RemoteAddr() netip.Addr            { return hc.addrs.remote }
func (hc *h2Ctx) Scheme() string                    { return hc.scheme }
func (hc *h2Ctx) Header(name string) ([]byte, bool) { return hc.header(name) }

// VisitHeaders visits Host (the :authority) first, then the header map.
func (hc *h2Ctx) VisitHeaders(fn func(name, value []byte)) {
	r := hc.r
	if r.Host != "" {
		fn(s2b("Host"), s2b(r.Host))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			fn(s2b(k), s2b(v))
		}
	}
}

// Host is not in the header map on net/http: it is r.Host, which the forwarders send.
func isHostHeader(name string) bool { return len(name) == 4 && strings.EqualFold(name, "host") }

func (hc *h2Ctx) SetHeader(name, value string) {
	if isHostHeader(name) {
		hc.r.Host = value
		return
	}
	hc.r.Header.Set(name, value)
}

func (hc *h2Ctx) AddHeader(name, value string) {
	if isHostHeader(name) {
		hc.r.Host = value // one Host only
		return
	}
	hc.r.Header.Add(name, value)
}

func (hc *h2Ctx) DelHeader(name string) {
	if isHostHeader(name) {
		hc.r.Host = ""
		return
	}
	hc.r.Header.Del(name)
}

// queryArgs parses the query on first use, with fasthttp's parser so args decode exactly as
// on the HTTP/1.1 engine.
func (hc *h2Ctx) queryArgs() *fasthttp.Args {
	if hc.args == nil {
		hc.args = new(fasthttp.Args)
	}
	if !hc.argsOK {
		hc.args.ParseBytes(hc.query)
		hc.argsOK = true
	}
	return hc.args
}

func (hc *h2Ctx) Arg(name string) ([]byte, bool) {
	return queryArg(hc.queryArgs(), name)
}

func (hc *h2Ctx) SetArg(name, value string) {
	hc.queryArgs().Set(name, value)
	hc.syncQuery()
}

func (hc *h2Ctx) DelArg(name string) {
	hc.queryArgs().Del(name)
	hc.syncQuery()
}

// syncQuery re-encodes the parsed args into the query forwarded upstream.
func (hc *h2Ctx) syncQuery() { hc.query = hc.plug.encodeQuery(hc.args) }

func (hc *h2Ctx) Cookie(name string) ([]byte, bool) {
	c, err := hc.r.Cookie(name)
	if err != nil {
		return nil, false
	}
	return s2b(c.Value), true
}

// Body buffers the request body (up to pluginBodyLimit) and puts it back as the body that is
// forwarded. A longer body is an error, and the request can no longer be forwarded intact:
// it is answered 413 unless the plugin ends it itself (requestPhases).
func (hc *h2Ctx) Body() ([]byte, error) {
	ps := &hc.plug
	if ps.bodyRead {
		return ps.body, ps.bodyErr
	}
	ps.bodyRead = true
	r := hc.r
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	if r.ContentLength > pluginBodyLimit {
		ps.bodyErr = errBodyTooLarge // nothing read: the body still forwards intact
		return nil, ps.bodyErr
	}
	src := &clientBody{r: r.Body, conn: http.NewResponseController(&hc.w), timeout: hc.srv.opts.ClientBodyTimeout}
	buf, err := ps.readBody(src)
	if err != nil {
		return nil, err
	}
	hc.setBody(buf)
	return buf, nil
}

// SetBody replaces the forwarded request body; the client's, if unread, is left to the
// HTTP/2 server (it resets the stream's remaining upload when the handler returns).
func (hc *h2Ctx) SetBody(b []byte) { hc.setBody(hc.plug.replaceBody(b)) }

// setBody makes b the request body the forwarders send, with its length.
func (hc *h2Ctx) setBody(b []byte) {
	r := hc.r
	r.ContentLength = int64(len(b))
	if _, ok := r.Header["Content-Length"]; ok {
		r.Header["Content-Length"] = []string{strconv.Itoa(len(b))} // $content_length
	}
	if len(b) == 0 {
		r.Body = http.NoBody
		return
	}
	hc.plug.bodyReader.Reset(b)
	hc.reqBody.r = &hc.plug.bodyReader
	r.Body = &hc.reqBody
}

// bufferedBody is a buffered request body lent to the forwarders as r.Body.
type bufferedBody struct{ r *bytes.Reader }

func (b *bufferedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *bufferedBody) Close() error               { return nil }

func (hc *h2Ctx) SetURI(path string) { hc.upstreamPath = append(hc.upstreamPath[:0], path...) }

func (hc *h2Ctx) SetRequestURI(uri string) {
	path, query, hasQuery := cutString(uri, '?')
	hc.upstreamPath = append(hc.upstreamPath[:0], path...)
	if hasQuery {
		hc.plug.queryBuf = append(hc.plug.queryBuf[:0], query...)
		if hc.plug.queryBuf == nil {
			hc.plug.queryBuf = []byte{} // "path?" keeps its '?'
		}
		hc.query = hc.plug.queryBuf
	} else {
		hc.query = nil
	}
	hc.queryArgs().Parse(query)
}

func (hc *h2Ctx) SetMethod(method string) {
	hc.method = append(hc.method[:0], method...)
	hc.r.Method = method
}

// SetUpstreamHost sets the Host forwarded with pass_host "pass" (the default).
func (hc *h2Ctx) SetUpstreamHost(host string) { hc.r.Host = host }

// Exit answers the request now: status and body (nil: nginx's page for the status; 200:
// empty). Headers set before stay. The response is written after header_filter and
// body_filter ran on it (writeOwnH2).
func (hc *h2Ctx) Exit(status int, body []byte) {
	hc.plug.exited = true
	hc.status = status
	h := hc.w.Header()
	switch {
	case body != nil:
		if len(h["Content-Type"]) == 0 {
			h["Content-Type"] = []string{"text/plain"}
		}
		hc.respBody = append(hc.respBody[:0], body...)
	case status == http.StatusOK:
		hc.respBody = hc.respBody[:0]
	default:
		h["Content-Type"] = []string{"text/html"}
		// copied: a body filter may change its chunk in place, never the shared page
		hc.respBody = append(hc.respBody[:0], exitPage(status)...)
	}
}

// exitPage is nginx's page for status, as the HTTP/1.1 engine's Exit sends it.
func exitPage(status int) []byte {
	if page, ok := errorPages[status]; ok {
		return page
	}
	line := strconv.Itoa(status) + " " + fasthttp.StatusMessage(status)
	return []byte("<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" +
		line + "</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n")
}

func (hc *h2Ctx) Exited() bool { return hc.plug.exited }

// Status is the response's status: the exit's or the upstream's (before either, 200).
func (hc *h2Ctx) Status() int {
	if hc.status == 0 {
		return http.StatusOK
	}
	return hc.status
}

func (hc *h2Ctx) SetStatus(code int) { hc.status = code }

func (hc *h2Ctx) RespHeader(name string) ([]byte, bool) {
	vs := hc.w.Header().Values(name)
	if len(vs) == 0 {
		return nil, false
	}
	return s2b(vs[0]), true
}

func (hc *h2Ctx) SetRespHeader(name, value string) { hc.respHeader(opSet, name, value) }
func (hc *h2Ctx) AddRespHeader(name, value string) { hc.respHeader(opAdd, name, value) }
func (hc *h2Ctx) DelRespHeader(name string)        { hc.respHeader(opDel, name, "") }

func (hc *h2Ctx) respHeader(op uint8, name, value string) {
	o := respHeaderOp{op, name, value}
	hc.plug.recordRespOp(o)
	applyRespOpH2(hc.w.Header(), o)
}

func applyRespOpH2(h http.Header, o respHeaderOp) {
	switch o.op {
	case opSet:
		h.Set(o.name, o.value)
	case opAdd:
		h.Add(o.name, o.value)
	case opDel:
		h.Del(o.name)
	}
}

// takeUpstreamHead readies h for the upstream's head: like the HTTP/1.1 engine's copy, the
// head replaces the headers plugins set before forwarding (the header filter replays them).
func (hc *h2Ctx) takeUpstreamHead(h http.Header) {
	if len(hc.plug.respOps) == 0 {
		return
	}
	clear(h)
	h.Set("Server", hc.srv.opts.ServerName)
}

// replayRespHeaders applies the response headers set before forwarding onto the upstream's
// head.
func (hc *h2Ctx) replayRespHeaders() {
	hc.plug.upstream = true
	h := hc.w.Header()
	for _, o := range hc.plug.respOps {
		applyRespOpH2(h, o)
	}
}

func (hc *h2Ctx) RouteID() string   { return routeID(hc.route) }
func (hc *h2Ctx) ServiceID() string { return routeServiceID(hc.route) }

func (hc *h2Ctx) Consumer() *plugin.Consumer        { return hc.plug.rt.Consumer() }
func (hc *h2Ctx) AttachConsumer(c *plugin.Consumer) { hc.plug.rt.AttachConsumer(c) }
func (hc *h2Ctx) Credentials() any                  { return hc.plug.rt.Credentials() }
func (hc *h2Ctx) Set(key, value any)                { hc.plug.rt.Set(key, value) }
func (hc *h2Ctx) Get(key any) any                   { return hc.plug.rt.Get(key) }

// h2Writer is the stream's ResponseWriter; it records the status written, so the log phase
// sees the status of every answer (the gateway's error pages included).
type h2Writer struct {
	http.ResponseWriter
	hc *h2Ctx
}

func (w *h2Writer) WriteHeader(code int) {
	if code >= 200 {
		w.hc.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *h2Writer) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.hc.info.sent += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the HTTP/2 stream (Flush, deadlines).
func (w *h2Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The phases on HTTP/2, with the engine-neutral halves in phases.go.

// serveUnmatchedH2 answers a request no route matched: the global rules' rewrite and access
// run first (they may answer it), then APISIX's 404.
func (s *Server) serveUnmatchedH2(w http.ResponseWriter, hc *h2Ctx) {
	if !unmatchedPhases(&hc.plug, hc.snap.Plugins, hc) {
		if !hc.plug.rt.Active() {
			writeNotFoundH2(w)
			return
		}
		hc.status = http.StatusNotFound
		w.Header().Set("Content-Type", "text/plain")
		hc.respBody = append(hc.respBody[:0], routeNotFound...)
	}
	s.writeOwnH2(w, hc)
}

// runHeaderFilterH2 runs header_filter on the response head about to be written; on an
// upstream's head it first replays the response headers plugins set before forwarding.
func (s *Server) runHeaderFilterH2(hc *h2Ctx) {
	ps := &hc.plug
	if !ps.rt.Active() {
		return
	}
	if !ownResponse(ps, hc.route) {
		hc.replayRespHeaders()
	}
	ps.rt.RunHeaderFilter(hc)
}

// beforeProxyH2 runs before_proxy for the try about to start; when the request was answered
// (a plugin's exit, or 413) it wrote that response.
func (s *Server) beforeProxyH2(w http.ResponseWriter, hc *h2Ctx) (answered bool) {
	if !beforeProxy(&hc.plug, hc) {
		return false
	}
	s.writeOwnH2(w, hc)
	return true
}

// gatewayErrorH2 answers with nginx's page for status, a response the gateway made itself
// (upstream unreachable or timed out, no upstream, a broken request body): as in APISIX it
// goes through header_filter and body_filter like a plugin's exit, and log sees it.
func (s *Server) gatewayErrorH2(w http.ResponseWriter, hc *h2Ctx, status int) {
	ps := &hc.plug
	if !ps.rt.Active() {
		writeErrorPageH2(w, status)
		return
	}
	ps.own = true
	hc.status = status
	w.Header().Set("Content-Type", "text/html")
	hc.respBody = append(hc.respBody[:0], exitPage(status)...) // a copy, as in Exit
	s.writeOwnH2(w, hc)
}

// writeOwnH2 writes a response the gateway made itself (a plugin's exit, the 404 after the
// global rules, its error pages): header_filter, then body_filter over its whole body, then
// the response.
func (s *Server) writeOwnH2(w http.ResponseWriter, hc *h2Ctx) {
	s.runHeaderFilterH2(hc)
	if hc.exitBody != nil {
		s.writeExitStreamH2(w, hc)
		return
	}
	body := hc.respBody
	if hc.plug.rt.HasBodyFilters() {
		body = hc.plug.rt.RunBodyFilter(hc, body, true)
	}
	status := hc.Status()
	h := w.Header()
	if bodyAllowed(status) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		h.Del("Content-Length")
		body = nil
	}
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// bodyAllowed reports a status whose response may carry a body (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// filterChunk runs body_filter on one chunk of an upstream's body; it returns the chunk
// itself when no filter is configured.
func (hc *h2Ctx) filterChunk(chunk []byte, eof bool) []byte {
	if !hc.plug.rt.HasBodyFilters() {
		return chunk
	}
	return hc.plug.rt.RunBodyFilter(hc, chunk, eof)
}
