// Package httplogger registers APISIX's http-logger plugin, which batches access-log entries and
// POSTs them as JSON to an HTTP(S) collector (apisix/plugins/http-logger.lua).
package httplogger

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
	"github.com/sluicegw/sluice/plugins/internal/logentry"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

// metadataSchema validates /apisix/admin/plugin_metadata/http-logger.
//
//go:embed metadata_schema.json
var metadataSchema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "http-logger",
		Priority:       410,
		Version:        "0.1",
		Schema:         schema,
		MetadataSchema: metadataSchema,
		EncryptFields:  []string{"auth_header"},
		DefaultEnabled: true,
		New:            New,
	})
}

// conf is the http-logger specific part of the conf (batch and entry fields are read by their
// packages).
type conf struct {
	URI          string `json:"uri"`
	AuthHeader   string `json:"auth_header"`
	Timeout      int    `json:"timeout"` // seconds
	ConcatMethod string `json:"concat_method"`
	SSLVerify    bool   `json:"ssl_verify"`
}

// sender POSTs batches to one collector.
type sender struct {
	url         string
	host, port  string
	contentType string
	auth        string
	newLine     bool
	single      bool // batch_max_size 1: each entry is sent as one object
	client      *http.Client
}

// New compiles one http-logger conf.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	s, err := newSender(raw)
	if err != nil {
		return nil, err
	}
	return logentry.NewBatched(raw, env, logentry.BatchedOptions{Plugin: "http-logger",
		ProcessorName: "http logger", Entry: logentry.Options{NoMatchRouteID: "no-matched"},
		OnStop: s.client.CloseIdleConnections}, s.send)
}

func newSender(raw json.RawMessage) (*sender, error) {
	c := conf{Timeout: 3, ConcatMethod: "json"}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	u, err := url.Parse(c.URI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http-logger: invalid uri %q", c.URI)
	}
	s := &sender{url: c.URI, host: u.Hostname(), port: u.Port(), auth: c.AuthHeader,
		contentType: "application/json", newLine: c.ConcatMethod == "new_line"}
	if s.port == "" {
		s.port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if s.newLine {
		s.contentType = "text/plain"
	}
	timeout := time.Duration(max(c.Timeout, 1)) * time.Second
	s.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: !c.SSLVerify, ServerName: u.Hostname()},
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     60 * time.Second,
		},
		// A collector's redirect is its answer, as lua-resty-http does not follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cfg, err := batch.ParseConfig(raw, "http logger")
	if err != nil {
		return nil, err
	}
	s.single = cfg.BatchMaxSize == 1
	return s, nil
}

// body encodes a batch as APISIX does: one object for batch_max_size 1; with concat_method
// json a JSON array, with new_line one object per line (no trailing newline).
func (s *sender) body(entries []*logentry.Entry) []byte {
	if s.single && len(entries) == 1 {
		return entries[0].AppendJSON(nil)
	}
	if !s.newLine {
		return logentry.AppendArray(nil, entries)
	}
	var out []byte
	for i, e := range entries {
		if i > 0 {
			out = append(out, '\n')
		}
		out = e.AppendJSON(out)
	}
	return out
}

func (s *sender) send(ctx context.Context, entries []*logentry.Entry) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(s.body(entries)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", s.contentType)
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("failed to connect to host[%s] port[%s] %w", s.host, s.port, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("server returned status code[%d] host[%s] port[%s] body[%s]",
			resp.StatusCode, s.host, s.port, body)
	}
	return nil
}
