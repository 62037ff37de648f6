// Package proxyproto reads and writes the PROXY protocol header (haproxy's
// proxy-protocol.txt, versions 1 and 2), as nginx's `listen ... proxy_protocol` and
// `proxy_protocol on` do: the header's source address is the client's.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Read reads the header from c and returns a connection that reads what follows it, and the
// source address (invalid for a v2 LOCAL or an "UNKNOWN" header). The caller bounds it with a
// read deadline.
func Read(c net.Conn) (net.Conn, netip.AddrPort, error) {
	br := bufio.NewReaderSize(c, 256)
	head, err := br.Peek(len(proxyV2Sig))
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	var src netip.AddrPort
	if bytes.Equal(head, proxyV2Sig) {
		src, err = readProxyV2(br)
	} else {
		src, err = readProxyV1(br)
	}
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return &bufferedConn{Conn: c, r: br}, src, nil
}

func readProxyV1(br *bufio.Reader) (netip.AddrPort, error) {
	var line []byte
	for len(line) < 107 { // the longest v1 header, CRLF included
		b, err := br.ReadByte()
		if err != nil {
			return netip.AddrPort{}, err
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok || !strings.HasPrefix(s, "PROXY ") {
		return netip.AddrPort{}, errors.New("not a PROXY protocol v1 header")
	}
	f := strings.Fields(s)
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return netip.AddrPort{}, nil
	}
	if len(f) != 6 || f[1] != "TCP4" && f[1] != "TCP6" {
		return netip.AddrPort{}, fmt.Errorf("bad PROXY protocol v1 header %q", s)
	}
	a, err := netip.ParseAddr(f[2])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad PROXY source address %q", f[2])
	}
	p, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad PROXY source port %q", f[4])
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func readProxyV2(br *bufio.Reader) (netip.AddrPort, error) {
	var h [16]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return netip.AddrPort{}, err
	}
	if h[12]>>4 != 2 {
		return netip.AddrPort{}, fmt.Errorf("PROXY protocol version %d", h[12]>>4)
	}
	n := int(binary.BigEndian.Uint16(h[14:16]))
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return netip.AddrPort{}, err
	}
	if h[12]&0x0f == 0 { // LOCAL: the proxy's own connection, the address is the peer's
		return netip.AddrPort{}, nil
	}
	switch h[13] >> 4 {
	case 1: // AF_INET
		if n < 12 {
			return netip.AddrPort{}, errors.New("short PROXY v2 IPv4 address block")
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10])), nil
	case 2: // AF_INET6
		if n < 36 {
			return netip.AddrPort{}, errors.New("short PROXY v2 IPv6 address block")
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34])), nil
	}
	return netip.AddrPort{}, nil // AF_UNSPEC or unix: keep the peer's address
}

// bufferedConn reads what the header reader buffered before the connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// AppendV1 appends a v1 header for a connection from src to dst (nginx's proxy_protocol on,
// toward an upstream).
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	fam := "TCP4"
	if src.Addr().Unmap().Is6() || dst.Addr().Unmap().Is6() {
		fam = "TCP6"
		src = netip.AddrPortFrom(as16(src.Addr()), src.Port())
		dst = netip.AddrPortFrom(as16(dst.Addr()), dst.Port())
	} else {
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	}
	b = append(b, "PROXY "+fam+" "...)
	b = src.Addr().AppendTo(b)
	b = append(b, ' ')
	b = dst.Addr().AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, "\r\n"...)
}

func as16(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}
