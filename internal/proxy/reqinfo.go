package proxy

import (
	"time"

	"github.com/sluicegw/sluice/internal/upstream"
)

// reqInfo is what plugin.RequestInfo reports (loggers, metrics, tracers), recorded by both
// engines as the request goes: the last upstream try and the bytes sent.
type reqInfo struct {
	start    time.Time
	upNode   *upstream.Node
	upStatus int
	upStart  time.Time     // the HTTP/2 engine's try start
	upMono   int64         // the HTTP/1.1 engine's: upstream.MonoNow, a cheaper clock read
	upTook   time.Duration // try start → response read (head only until the body ended)
	sent     int64         // response body bytes handed to the client
}

// tryStarted records an upstream try about to be sent to n.
func (ri *reqInfo) tryStarted(n *upstream.Node, now time.Time) {
	ri.upNode, ri.upStart, ri.upMono, ri.upStatus, ri.upTook = n, now, 0, 0, 0
}

// tryStartedMono is tryStarted with a start read from upstream.MonoNow.
func (ri *reqInfo) tryStartedMono(n *upstream.Node, mono int64) {
	ri.upNode, ri.upStart, ri.upMono, ri.upStatus, ri.upTook = n, time.Time{}, mono, 0, 0
}

// tryAnswered records the try's response head, or its failure err (status is then nginx's
// for it); the node's passive health check sees either.
func (ri *reqInfo) tryAnswered(status int, err error) {
	ri.upStatus = status
	ri.took(0)
	if ri.upNode != nil {
		ri.upNode.ReportPassive(status, err)
	}
}

// tryAnsweredMono is tryAnswered at mono (upstream.MonoNow), read by the caller.
func (ri *reqInfo) tryAnsweredMono(status int, err error, mono int64) {
	ri.upStatus = status
	ri.took(mono)
	if ri.upNode != nil {
		ri.upNode.ReportPassive(status, err)
	}
}

// bodyDone records the end of the upstream's body.
func (ri *reqInfo) bodyDone() { ri.took(0) }

// took sets upTook to now (mono, or read here when 0) minus the try's start.
func (ri *reqInfo) took(mono int64) {
	switch {
	case ri.upMono != 0:
		if mono == 0 {
			mono = upstream.MonoNow()
		}
		ri.upTook = time.Duration(mono - ri.upMono)
	case !ri.upStart.IsZero():
		ri.upTook = time.Since(ri.upStart)
	}
}

func (ri *reqInfo) StartTime() time.Time { return ri.start }

func (ri *reqInfo) UpstreamAddr() string {
	if ri.upNode == nil {
		return ""
	}
	return ri.upNode.Addr
}

func (ri *reqInfo) UpstreamStatus() int { return ri.upStatus }

func (ri *reqInfo) UpstreamLatency() time.Duration {
	if ri.upNode == nil || ri.upStatus == 0 {
		return -1
	}
	return ri.upTook
}

// RequestSize is $request_length: request line, headers and body.
func (rc *reqCtx) RequestSize() int64 {
	h := &rc.fc.Request.Header
	n := int64(len(h.Method()) + 1 + len(h.RequestURI()) + len(" HTTP/1.1\r\n") + len(h.RawHeaders()) + 2)
	if cl := h.ContentLength(); cl > 0 {
		n += int64(cl)
	} else if rc.body.n > 0 {
		n += rc.body.n
	}
	return n
}

// ResponseSize is $bytes_sent: the head as it will be written, plus the body.
func (rc *reqCtx) ResponseSize() int64 {
	r := &rc.fc.Response
	n := int64(len("HTTP/1.1 200 OK\r\n") + len(r.Header.StatusMessage()) + 2)
	r.Header.VisitAll(func(k, v []byte) { n += int64(len(k) + len(v) + 4) })
	return n + rc.BodyBytesSent()
}

// RequestSize for HTTP/2: headers as received (uncompressed) and the body read.
func (hc *h2Ctx) RequestSize() int64 {
	n := int64(len(hc.method) + len(hc.target) + len(hc.host) + 32)
	for k, vs := range hc.r.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	if hc.r.ContentLength > 0 {
		n += hc.r.ContentLength
	}
	return n
}

func (hc *h2Ctx) ResponseSize() int64 {
	n := int64(16)
	for k, vs := range hc.w.Header() {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	return n + hc.info.sent
}

func (rc *reqCtx) StartTime() time.Time           { return rc.info.StartTime() }
func (rc *reqCtx) UpstreamAddr() string           { return rc.info.UpstreamAddr() }
func (rc *reqCtx) UpstreamStatus() int            { return rc.info.UpstreamStatus() }
func (rc *reqCtx) UpstreamLatency() time.Duration { return rc.info.UpstreamLatency() }
func (hc *h2Ctx) StartTime() time.Time            { return hc.info.StartTime() }
func (hc *h2Ctx) UpstreamAddr() string            { return hc.info.UpstreamAddr() }
func (hc *h2Ctx) UpstreamStatus() int             { return hc.info.UpstreamStatus() }
func (hc *h2Ctx) UpstreamLatency() time.Duration  { return hc.info.UpstreamLatency() }
