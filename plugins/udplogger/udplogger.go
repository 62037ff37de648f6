// Package udplogger registers APISIX's udp-logger plugin, which batches access-log entries and
// sends each batch as one JSON UDP datagram (apisix/plugins/udp-logger.lua).
package udplogger

import (
	"context"
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

// metadataSchema validates /apisix/admin/plugin_metadata/udp-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "udp-logger",
		Priority:       400,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		DefaultEnabled: true,
		New:            New,
	})
}

type conf struct {
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Timeout int    `json:"timeout"` // seconds
}

// sender sends each batch as one datagram.
type sender struct {
	c    conf
	addr string
	cfg  batch.Config
}

// New compiles one udp-logger conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := conf{Timeout: 3}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	cfg, err := batch.ParseConfig(raw, "udp logger")
	if err != nil {
		return nil, err
	}
	s := &sender{c: c, addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), cfg: cfg}
	inst, err := logentry.NewBatched(raw, env, logentry.BatchedOptions{Plugin: "udp-logger",
		ProcessorName: "udp logger"}, s.send)
	if err != nil {
		return nil, err
	}
	return inst, nil
}

func (s *sender) send(ctx context.Context, entries []*logentry.Entry) error {
	timeout := time.Duration(max(s.c.Timeout, 1)) * time.Second
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "udp", s.addr)
	if err != nil {
		return fmt.Errorf("failed to connect to UDP server: host[%s] port[%d] err: %w", s.c.Host, s.c.Port, err)
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(logentry.Encode(nil, s.cfg, entries)); err != nil {
		return fmt.Errorf("failed to send data to UDP server: host[%s] port[%d] err: %w", s.c.Host, s.c.Port, err)
	}
	return nil
}
