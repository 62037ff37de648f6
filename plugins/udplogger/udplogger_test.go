package udplogger

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

func TestOneDatagramPerBatch(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	inst := plugintest.MustNew(t, "udp-logger", fmt.Sprintf(
		`{"host":"127.0.0.1","port":%d,"batch_max_size":3,"log_format":{"u":"$uri"}}`, port))
	defer inst.(plugin.Closer).Close()
	for _, p := range []string{"/1", "/2", "/3"} {
		c := plugintest.New()
		c.Path = p
		inst.(plugin.Logger).Log(c)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != `[{"u":"/1"},{"u":"/2"},{"u":"/3"}]` {
		t.Errorf("datagram %q", got)
	}
}
