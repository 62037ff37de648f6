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
//
// The listener's read loop only hands datagrams to their session's queue: a session is set
// up (route, preread with its delays, node address lookup) on its own goroutine, so a slow
// one holds up no other client. Datagrams arriving while it is set up wait in its queue;
// a full queue drops them, as a busy socket would.

// udpQueue bounds the datagrams waiting for a session.
const udpQueue = 64

type udpSession struct {
	in     chan []byte // datagrams from the client, in order
	done   chan struct{}
	node   *net.UDPConn // set once the session is up
	sc     *ctx
	picked *picked
	mu     sync.Mutex
	last   time.Time
}

func (us *udpSession) touch() {
	us.mu.Lock()
	us.last = time.Now()
	us.mu.Unlock()
}

// idleLeft is how long the session may still go without a datagram.
func (us *udpSession) idleLeft(d time.Duration) time.Duration {
	us.mu.Lock()
	defer us.mu.Unlock()
	return d - time.Since(us.last)
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
					close(us.done)
				}
				clear(sessions)
				mu.Unlock()
				return
			}
			s.log.Warn("stream udp read", "addr", uc.LocalAddr().String(), "error", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		mu.Lock()
		us := sessions[from]
		if us == nil && s.table().Match(from.Addr(), local.Addr(), int(local.Port()), "") == nil {
			mu.Unlock()
			continue // no route takes it: dropped without setting a session up
		}
		if us == nil {
			us = &udpSession{in: make(chan []byte, udpQueue), done: make(chan struct{}), last: time.Now()}
			sessions[from] = us
			s.sessions.Add(1)
			go func() {
				defer s.sessions.Done()
				// deferred before the recover: a panicking plugin must not leave the
				// address mapped to a session nobody reads
				defer func() {
					mu.Lock()
					if sessions[from] == us {
						delete(sessions, from)
					}
					mu.Unlock()
				}()
				defer func() {
					if r := recover(); r != nil {
						s.log.Error("stream udp session panic", "remote", from.String(), "panic", r)
					}
				}()
				s.udpSession(uc, local, from, us)
			}()
		}
		mu.Unlock()
		select {
		case us.in <- append([]byte(nil), buf[:n]...):
		default: // the session is not keeping up: dropped
		}
	}
}

// udpSession sets the session up and then carries it: client datagrams to the node, the
// node's answers back, until it idles out or the listener closes.
func (s *Server) udpSession(uc *net.UDPConn, local, from netip.AddrPort, us *udpSession) {
	if !s.setupUDP(local, from, us) {
		return // no route, refused or no node: its datagrams are dropped
	}
	defer s.logPhase(us.sc)
	defer us.picked.finish()
	replies := make(chan struct{})
	go func() {
		defer close(replies)
		s.udpReplies(uc, from, us)
	}()
	defer func() { <-replies }()
	defer us.node.Close() // ends udpReplies
	idle := time.NewTimer(us.picked.idle)
	defer idle.Stop()
	for {
		select {
		case d := <-us.in:
			us.touch()
			us.sc.received += int64(len(d))
			if _, err := us.node.Write(d); err != nil {
				s.log.Debug("stream udp: write to node", "remote", from.String(), "error", err)
			}
		case <-replies:
			return // the node's socket failed (e.g. refused)
		case <-idle.C:
			left := us.idleLeft(us.picked.idle)
			if left <= 0 {
				return
			}
			idle.Reset(left)
		case <-us.done:
			return
		}
	}
}

// setupUDP matches the client to a route, runs preread and connects a socket to a node.
func (s *Server) setupUDP(local, from netip.AddrPort, us *udpSession) bool {
	sc := &ctx{remote: from, local: local, start: time.Now(), status: 200, table: s.table()}
	rt := sc.table.Match(from.Addr(), local.Addr(), int(local.Port()), "")
	if rt == nil {
		s.log.Debug("stream udp: not hit any route", "remote", from.String())
		return false
	}
	sc.route = rt
	if !s.preread(sc) {
		s.logPhase(sc)
		return false
	}
	if sc.upstreamOf() == nil {
		sc.status = 502
		s.logPhase(sc)
		return false
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
		return false
	}
	sc.upstreamAddr = n.Addr
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
		return false
	}
	us.node, us.sc, us.picked = nc, sc, p
	return true
}

// udpReplies sends the node's datagrams back to the client until the node's socket is
// closed or fails.
func (s *Server) udpReplies(uc *net.UDPConn, client netip.AddrPort, us *udpSession) {
	buf := make([]byte, 64<<10)
	for {
		n, err := us.node.Read(buf)
		if n > 0 {
			us.touch()
			us.sc.sent += int64(n)
			if _, werr := uc.WriteToUDPAddrPort(buf[:n], client); werr != nil && s.closing.Load() {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
