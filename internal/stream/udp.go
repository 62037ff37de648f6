package stream

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// UDP sessions, as nginx's stream module keeps them: the first datagram from a client address
// matches a route, runs preread and picks a node; later datagrams of that address go to the
// same node, and the node's answers go back to the client from the listener's socket. A
// session ends after the upstream's read timeout (nginx proxy_timeout, 10 minutes by
// default) without a datagram either way.

type udpSession struct {
	node   *net.UDPConn
	sc     *ctx
	picked *picked
	last   time.Time
	mu     sync.Mutex
}

func (s *Server) udpLoop(uc *net.UDPConn) {
	defer s.loops.Done()
	local := addrPort(uc.LocalAddr())
	var mu sync.Mutex
	sessions := map[netip.AddrPort]*udpSession{}
	buf := make([]byte, 64<<10)
	for {
		n, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.closing.Load() {
				mu.Lock()
				for _, us := range sessions {
					us.node.Close()
				}
				mu.Unlock()
				return
			}
			s.log.Warn("stream udp read", "addr", uc.LocalAddr().String(), "error", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		mu.Lock()
		us := sessions[from]
		mu.Unlock()
		if us == nil {
			if us = s.safeNewUDPSession(uc, local, from); us == nil {
				continue // no route, refused, or no node: the datagram is dropped
			}
			mu.Lock()
			sessions[from] = us
			mu.Unlock()
			s.sessions.Add(1)
			go func() {
				defer s.sessions.Done()
				defer func() {
					if r := recover(); r != nil {
						s.log.Error("stream udp session panic", "remote", from.String(), "panic", r)
					}
				}()
				s.udpReplies(uc, from, us)
				mu.Lock()
				delete(sessions, from)
				mu.Unlock()
			}()
		}
		us.mu.Lock()
		us.last = time.Now()
		us.mu.Unlock()
		if _, err := us.node.Write(buf[:n]); err != nil {
			s.log.Debug("stream udp: write to node", "remote", from.String(), "error", err)
		}
	}
}

// safeNewUDPSession is newUDPSession with a plugin's panic contained to the datagram.
func (s *Server) safeNewUDPSession(uc *net.UDPConn, local, from netip.AddrPort) (us *udpSession) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("stream udp session panic", "remote", from.String(), "panic", r)
			us = nil
		}
	}()
	return s.newUDPSession(uc, local, from)
}

// newUDPSession matches the client's first datagram to a route and connects a socket to a
// node; nil drops the datagram.
func (s *Server) newUDPSession(uc *net.UDPConn, local, from netip.AddrPort) *udpSession {
	sc := &ctx{remote: from, local: local, start: time.Now(), status: 200, table: s.table()}
	rt := sc.table.Match(from.Addr(), local.Addr(), int(local.Port()), "")
	if rt == nil {
		s.log.Debug("stream udp: not hit any route", "remote", from.String())
		return nil
	}
	sc.route = rt
	if !s.preread(sc) {
		s.logPhase(sc)
		return nil
	}
	if sc.upstreamOf() == nil {
		sc.status = 502
		s.logPhase(sc)
		return nil
	}
	u := sc.upstreamOf().Current()
	p := &picked{from: time.Now(), idle: DefaultTimeout}
	if u.Spec != nil && u.Spec.Timeout != nil && u.Spec.Timeout.Read > 0 {
		p.idle = u.Timeouts(nil).Read
	}
	if u.CHash() {
		p.a.HashKey = u.AppendHashKey(nil, sc)
	}
	n := u.Pick(&p.a)
	if n == nil {
		sc.status = 503
		s.logPhase(sc)
		return nil
	}
	ra, err := net.ResolveUDPAddr("udp", n.Addr)
	var nc *net.UDPConn
	if err == nil {
		nc, err = net.DialUDP("udp", nil, ra)
	}
	if err != nil {
		s.log.Error("stream udp: node not reachable", "node", n.Addr, "error", err)
		p.a.Reset()
		sc.status = 502
		s.logPhase(sc)
		return nil
	}
	return &udpSession{node: nc, sc: sc, picked: p, last: time.Now()}
}

// udpReplies sends the node's datagrams back to the client until the session idles out.
func (s *Server) udpReplies(uc *net.UDPConn, client netip.AddrPort, us *udpSession) {
	defer s.logPhase(us.sc)
	defer us.picked.finish()
	defer us.node.Close()
	buf := make([]byte, 64<<10)
	for {
		us.mu.Lock()
		deadline := us.last.Add(us.picked.idle)
		us.mu.Unlock()
		_ = us.node.SetReadDeadline(deadline)
		n, err := us.node.Read(buf)
		if n > 0 {
			us.mu.Lock()
			us.last = time.Now()
			us.mu.Unlock()
			if _, werr := uc.WriteToUDPAddrPort(buf[:n], client); werr != nil && s.closing.Load() {
				return
			}
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				us.mu.Lock()
				idle := time.Since(us.last) >= us.picked.idle
				us.mu.Unlock()
				if !idle {
					continue
				}
			}
			return
		}
	}
}
