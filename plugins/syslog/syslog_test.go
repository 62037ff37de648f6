package syslog

import (
	"strings"

	"bufio"
	"fmt"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
	"net"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestRFC5424LinesOverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan string, 10)
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	inst := plugintest.MustNew(t, "syslog", fmt.Sprintf(
		`{"host":"127.0.0.1","port":%d,"batch_max_size":1,"log_format":{"u":"$uri"}}`, port))
	defer inst.(plugin.Closer).Close()
	want := regexp.MustCompile(`^<46>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z example\.com apisix ` +
		fmt.Sprint(os.Getpid()) + ` - - \{"u":"/p\d"\}$`)
	for i := range 2 {
		c := plugintest.New()
		c.HostV, c.Path = "example.com", fmt.Sprintf("/p%d", i)
		inst.(plugin.Logger).Log(c)
		select {
		case l := <-lines:
			if !want.MatchString(l) {
				t.Errorf("line %q", l)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no line")
		}
	}
	if len(accepted) != 1 {
		t.Errorf("%d connections, want 1 kept connection", len(accepted))
	}
}

func TestUDPDatagram(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	inst := plugintest.MustNew(t, "syslog", fmt.Sprintf(
		`{"host":"127.0.0.1","port":%d,"sock_type":"udp","batch_max_size":2,"log_format":{"a":"$uri"}}`, port))
	defer inst.(plugin.Closer).Close()
	for range 2 {
		inst.(plugin.Logger).Log(plugintest.New())
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`<46>1 \S+ localhost apisix \d+ - - \{"a":"/"\}\n`)
	if got := string(buf[:n]); len(line.FindAllString(got, -1)) != 2 {
		t.Errorf("datagram %q, want two lines", got)
	}
}

func TestDropLimit(t *testing.T) {
	// addr is never dialled: a batch over drop_limit is dropped before any I/O.
	s := &sender{c: conf{DropLimit: 50, Timeout: 100, SockType: "tcp"}, addr: "", pid: "1"}
	e := &logentry.Entry{Fields: []logentry.Field{{Key: "a", Value: strings.Repeat("x", 60)}}}
	if err := s.send(t.Context(), []*logentry.Entry{e}); err != errDropped {
		t.Fatalf("got %v, want %v", err, errDropped)
	}
}
