package tcplogger

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugin/plugintest"
)

// listen accepts connections and sends each one's whole payload on the channel.
func listen(t *testing.T) (int, chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan string, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				out <- string(b)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, out
}

func TestOneConnectionPerBatch(t *testing.T) {
	port, got := listen(t)
	inst := plugintest.MustNew(t, "tcp-logger", fmt.Sprintf(
		`{"host":"127.0.0.1","port":%d,"batch_max_size":2,"log_format":{"m":"$request_method"}}`, port))
	defer inst.(plugin.Closer).Close()
	for range 2 {
		inst.(plugin.Logger).Log(plugintest.New())
	}
	select {
	case s := <-got:
		if s != `[{"m":"GET"},{"m":"GET"}]` {
			t.Errorf("payload %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
	}
}

func TestSingleEntryObject(t *testing.T) {
	port, got := listen(t)
	inst := plugintest.MustNew(t, "tcp-logger", fmt.Sprintf(`{"host":"127.0.0.1","port":%d,"batch_max_size":1}`, port))
	defer inst.(plugin.Closer).Close()
	inst.(plugin.Logger).Log(plugintest.New())
	s := <-got
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m["request"] == nil {
		t.Errorf("payload %q: %v", s, err)
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // only for its certificate
	defer srv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv.TLS)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	inst := plugintest.MustNew(t, "tcp-logger", fmt.Sprintf(
		`{"host":"127.0.0.1","port":%d,"tls":true,"tls_options":"example.com","batch_max_size":1,"log_format":{"a":"b"}}`, port))
	defer inst.(plugin.Closer).Close()
	inst.(plugin.Logger).Log(plugintest.New())
	select {
	case s := <-got:
		if s != `{"a":"b"}` {
			t.Errorf("payload %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received over TLS")
	}
}
