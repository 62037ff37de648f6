package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/sluicegw/sluice/plugin"
)

// Stats reports the listeners' connections as nginx's stub_status does: reading (waiting for
// a request's head), writing (serving a request), waiting (idle keep-alive). It walks the
// open connections, so it is meant for scrapes, not for the request path. HTTP/2
// connections count as writing while open, and their streams are not counted as requests.
func (s *Server) Stats() plugin.ConnStats {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	st := plugin.ConnStats{Accepted: s.accepted, Handled: s.accepted, Total: s.closedReqs}
	for tc := range s.conns {
		st.Active++
		st.Total += tc.reqs.Load()
		switch fasthttp.ConnState(tc.state.Load()) {
		case fasthttp.StateNew:
			st.Reading++
		case fasthttp.StateIdle:
			st.Waiting++
		default:
			st.Writing++
		}
	}
	return st
}
