package proxy

import (
	"io"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// tunnel pipes a WebSocket connection after the node answered 101: fasthttp writes the 101
// to the client, then hands over the raw connection. Each direction is copied until either
// side closes; the tunnel counts as a connection for the graceful drain.
func (s *Server) tunnel(rc *reqCtx) {
	c := rc.conn
	rc.conn = nil
	rc.attempt.Finish(rc.rtt)
	up := c.NetConn()
	pending := c.Reader() // bytes the node sent right after its 101
	tc := &trackedConn{Conn: up}
	tc.state.Store(int32(fasthttp.StateHijacked))
	s.connMu.Lock()
	if s.draining.Load() {
		s.connMu.Unlock()
		c.Release(false)
		writeErrorPage(rc.fc, fasthttp.StatusServiceUnavailable)
		return
	}
	s.conns[tc] = struct{}{}
	s.connsWG.Add(1)
	s.connMu.Unlock()

	rc.fc.Hijack(func(client net.Conn) {
		defer s.untrack(tc)
		defer c.Release(false)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("websocket tunnel panic", "panic", r)
			}
		}()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(up, client) // client → node
			closeWrite(up)
		}()
		if n := pending.Buffered(); n > 0 {
			b, _ := pending.Peek(n)
			if _, err := client.Write(b); err != nil {
				up.Close()
			}
		}
		_, _ = io.Copy(client, up) // node → client
		closeWrite(client)
		wg.Wait()
		up.Close()
	})
}

// streamUntilClose sends a body of unknown length to an HTTP/1.0 client delimited by the end
// of the connection (fasthttp would frame it chunked). It takes the connection over after the
// handler returns, writes the head and the body, and closes.
func (s *Server) streamUntilClose(rc *reqCtx) {
	s.untilClose(rc, &rc.stream, func(c net.Conn) { rc.stream.conn = c })
}

// untilClose is streamUntilClose for any body: body's Close releases rc; attach, when set,
// gives it the client connection before the first Read.
func (s *Server) untilClose(rc *reqCtx, body io.ReadCloser, attach func(net.Conn)) {
	fc := rc.fc
	fc.Response.Header.SetConnectionClose()
	tc := &trackedConn{}
	tc.state.Store(int32(fasthttp.StateHijacked))
	s.connMu.Lock()
	s.conns[tc] = struct{}{}
	s.connsWG.Add(1)
	s.connMu.Unlock()
	fc.HijackSetNoResponse(true)
	fc.Hijack(func(client net.Conn) {
		defer s.untrack(tc)
		defer body.Close() // releases rc: fc stays valid until this handler returns
		s.connMu.Lock()
		tc.Conn = client // Shutdown may close it once the drain times out
		s.connMu.Unlock()
		head := fc.Response.Header.Header()
		if _, err := client.Write(head); err != nil {
			return
		}
		if fc.IsHead() {
			return
		}
		if attach != nil {
			attach(client)
		}
		buf := bodyBufPool.Get().(*[]byte)
		defer bodyBufPool.Put(buf)
		for {
			n, err := body.Read(*buf)
			if n > 0 {
				if _, werr := client.Write((*buf)[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// closeWrite half-closes a TCP connection so the other side sees EOF while the reverse
// direction drains; anything else is closed.
func closeWrite(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		closeWrite(u.NetConn())
		return
	}
	_ = c.Close()
}
