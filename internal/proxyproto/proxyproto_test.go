package proxyproto

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// headerConn runs Read over a pipe carrying header + payload.
func headerConn(t *testing.T, header []byte) (netip.AddrPort, string, error) {
	t.Helper()
	client, server := net.Pipe()
	go func() {
		client.Write(append(header, "payload"...))
		client.Close()
	}()
	defer server.Close()
	server.SetDeadline(time.Now().Add(2 * time.Second))
	c, src, err := Read(server)
	if err != nil {
		return src, "", err
	}
	rest, _ := io.ReadAll(c)
	return src, string(rest), nil
}

func TestProxyProtocol(t *testing.T) {
	src, rest, err := headerConn(t, []byte("PROXY TCP4 192.0.2.1 127.0.0.1 5555 9100\r\n"))
	if err != nil || src != netip.MustParseAddrPort("192.0.2.1:5555") || rest != "payload" {
		t.Errorf("v1 TCP4: %v %q %v", src, rest, err)
	}
	src, _, err = headerConn(t, []byte("PROXY TCP6 2001:db8::1 ::1 5555 9100\r\n"))
	if err != nil || src != netip.MustParseAddrPort("[2001:db8::1]:5555") {
		t.Errorf("v1 TCP6: %v %v", src, err)
	}
	src, rest, err = headerConn(t, []byte("PROXY UNKNOWN\r\n"))
	if err != nil || src.IsValid() || rest != "payload" {
		t.Errorf("v1 UNKNOWN: %v %q %v", src, rest, err)
	}
	if _, _, err := headerConn(t, []byte("GET / HTTP/1.1\r\n")); err == nil {
		t.Error("an HTTP request was read as a PROXY header")
	}

	var v2 bytes.Buffer
	v2.Write(proxyV2Sig)
	v2.Write([]byte{0x21, 0x11})
	binary.Write(&v2, binary.BigEndian, uint16(12))
	v2.Write([]byte{198, 51, 100, 4, 127, 0, 0, 1})
	binary.Write(&v2, binary.BigEndian, uint16(6000))
	binary.Write(&v2, binary.BigEndian, uint16(9100))
	src, rest, err = headerConn(t, v2.Bytes())
	if err != nil || src != netip.MustParseAddrPort("198.51.100.4:6000") || rest != "payload" {
		t.Errorf("v2 TCP4: %v %q %v", src, rest, err)
	}
}

func TestAppendV1(t *testing.T) {
	for _, tc := range []struct{ src, dst, want string }{
		{"192.0.2.1:5555", "127.0.0.1:9100", "PROXY TCP4 192.0.2.1 127.0.0.1 5555 9100\r\n"},
		{"[::ffff:192.0.2.1]:5555", "127.0.0.1:9100", "PROXY TCP4 192.0.2.1 127.0.0.1 5555 9100\r\n"},
		{"[2001:db8::1]:5555", "127.0.0.1:80", "PROXY TCP6 2001:db8::1 ::ffff:127.0.0.1 5555 80\r\n"},
	} {
		got := string(AppendV1(nil, netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)))
		if got != tc.want {
			t.Errorf("%s → %s: %q, want %q", tc.src, tc.dst, got, tc.want)
		}
		if src, _, err := headerConn(t, []byte(got)); err != nil || src.Addr().Unmap() != netip.MustParseAddrPort(tc.src).Addr().Unmap() {
			t.Errorf("%q read back as %v %v", got, src, err)
		}
	}
}
