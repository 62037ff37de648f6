// Package syslog registers APISIX's syslog plugin, which sends access-log entries as RFC 5424
// syslog lines over TCP or UDP (apisix/plugins/syslog.lua, apisix/plugins/syslog/init.lua,
// apisix/utils/rfc5424.lua).
package syslog

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/syslog.
//
//go:embed metadata_schema.json
var metadataSchema []byte

// The stream variant's schema (no body-capture fields) is not registered separately: Definition
// carries one schema.
func init() {
	plugin.Register(plugin.Definition{
		Name:           "syslog",
		Priority:       401,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		Stream:         true,
		StreamPriority: 401,
		New:            New,
	})
}

type conf struct {
	Host      string `json:"host"`
	Port      int    `json:"port"`
	DropLimit int    `json:"drop_limit"`
	Timeout   int    `json:"timeout"` // milliseconds
	SockType  string `json:"sock_type"`
	TLS       bool   `json:"tls"`
}

// pri and version open every line: <facility*8+severity>1 with SYSLOG (5) and INFO (6), as
// APISIX's rfc5424.encode("SYSLOG", "INFO", ...).
const pri = "<46>1 "

// sender writes batches of syslog lines on one kept connection (resty.logger.socket keeps its
// socket in a keepalive pool); a failed write drops the connection and fails the batch, which
// the batch processor retries.
type sender struct {
	c    conf
	addr string
	pid  string

	mu   sync.Mutex // the processor sends one batch at a time; mu guards conn against Close
	conn net.Conn
}

// New compiles one syslog conf; the instance also logs stream connections (with log_format).
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := conf{DropLimit: 1048576, Timeout: 3000, SockType: "tcp"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	s := &sender{c: c, addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), pid: strconv.Itoa(os.Getpid())}
	inst, err := logentry.NewBatched(raw, env, logentry.BatchedOptions{Plugin: "syslog",
		ProcessorName: "sys logger", OnStop: s.close}, s.send)
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// line formats one entry as rfc5424.encode("SYSLOG", "INFO", $host, "apisix", pid, json).
func (s *sender) line(dst []byte, e *logentry.Entry) []byte {
	host := e.Host
	if host == "" {
		host = "-"
	}
	dst = append(dst, pri...)
	dst = e.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, ' ')
	dst = append(dst, host...)
	dst = append(dst, " apisix "...)
	dst = append(dst, s.pid...)
	dst = append(dst, " - - "...)
	dst = e.AppendJSON(dst)
	return append(dst, '\n')
}

var errDropped = errors.New("failed to log message: logger buffer is full, this log message will be dropped")

func (s *sender) send(ctx context.Context, entries []*logentry.Entry) error {
	var data []byte
	for _, e := range entries {
		data = s.line(data, e)
	}
	if len(data) > s.c.DropLimit {
		return errDropped
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	timeout := time.Duration(max(s.c.Timeout, 1)) * time.Millisecond
	if s.conn == nil {
		conn, err := s.dial(ctx, timeout)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	s.conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := s.conn.Write(data); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("failed to log message: %w", err)
	}
	return nil
}

func (s *sender) dial(ctx context.Context, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, s.c.SockType, s.addr)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to %s server: host[%s] port[%d] err: %w",
			s.c.SockType, s.c.Host, s.c.Port, err)
	}
	if s.c.TLS && s.c.SockType == "tcp" {
		tc := tls.Client(conn, &tls.Config{ServerName: s.c.Host, InsecureSkipVerify: true})
		tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("failed to do ssl handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		conn = tc
	}
	return conn, nil
}

// close drops the kept connection once the processor stopped.
func (s *sender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
