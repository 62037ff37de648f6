// Package tcplogger registers APISIX's tcp-logger plugin, which batches access-log entries and
// writes them as JSON over a TCP (optionally TLS) connection (apisix/plugins/tcp-logger.lua).
package tcplogger

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/tcp-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "tcp-logger",
		Priority:       405,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		New:            New,
	})
}

type conf struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	TLS        bool   `json:"tls"`
	TLSOptions string `json:"tls_options"`
	Timeout    int    `json:"timeout"` // milliseconds
}

// sender writes each batch on its own connection, as APISIX: connect, optional TLS, send, close.
type sender struct {
	c    conf
	addr string
	cfg  batch.Config
}

// New compiles one tcp-logger conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := conf{Timeout: 1000}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	cfg, err := batch.ParseConfig(raw, "tcp logger")
	if err != nil {
		return nil, err
	}
	s := &sender{c: c, addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), cfg: cfg}
	inst, err := logentry.NewBatched(raw, env, logentry.BatchedOptions{Plugin: "tcp-logger",
		ProcessorName: "tcp logger"}, s.send)
	if err != nil {
		return nil, err
	}
	return inst, nil
}

func (s *sender) send(ctx context.Context, entries []*logentry.Entry) error {
	timeout := time.Duration(max(s.c.Timeout, 1)) * time.Millisecond
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("failed to connect to TCP server: host[%s] port[%d] err: %w", s.c.Host, s.c.Port, err)
	}
	defer conn.Close()
	if s.c.TLS {
		// tls_options is the server name APISIX hands to sslhandshake; it does not verify.
		tc := tls.Client(conn, &tls.Config{ServerName: s.c.TLSOptions, InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("failed to perform TLS handshake to TCP server: host[%s] port[%d] err: %w", s.c.Host, s.c.Port, err)
		}
		conn = tc
	}
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(logentry.Encode(nil, s.cfg, entries)); err != nil {
		return fmt.Errorf("failed to send data to TCP server: host[%s] port[%d] err: %w", s.c.Host, s.c.Port, err)
	}
	return nil
}
