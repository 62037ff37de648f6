package mocking

import (
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

type config struct {
	Delay           int                        `json:"delay"`
	ResponseStatus  *int                       `json:"response_status"`
	ContentType     *string                    `json:"content_type"`
	ResponseExample *string                    `json:"response_example"`
	ResponseSchema  json.RawMessage            `json:"response_schema"`
	WithMockHeader  *bool                      `json:"with_mock_header"`
	ResponseHeaders map[string]json.RawMessage `json:"response_headers"`
}

// mockBy is APISIX's x-mock-by value; Sluice reports the APISIX version it is compatible with.
const mockBy = "APISIX/3.18.0"

type bodyFormat uint8

const (
	formatJSON bodyFormat = iota
	formatXML
	formatNone // text/html with a schema: empty body
)

type header struct {
	name  string
	value *vartemplate.Template
}

// Mocking is one compiled mocking conf.
type Mocking struct {
	delay       time.Duration
	status      int
	contentType string
	mockHeader  bool
	headers     []header
	example     *vartemplate.Template
	staticBody  []byte
	schema      *gen
	format      bodyFormat
}

var supportedTypes = map[string]bodyFormat{
	"application/json": formatJSON, "text/plain": formatJSON,
	"application/xml": formatXML, "text/xml": formatXML,
	"text/html": formatNone,
}

func newMocking(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	m := &Mocking{delay: time.Duration(c.Delay) * time.Second, status: 200,
		contentType: "application/json;charset=utf8", mockHeader: true}
	if c.ResponseStatus != nil {
		m.status = *c.ResponseStatus
	}
	if c.ContentType != nil {
		m.contentType = *c.ContentType
	}
	if c.WithMockHeader != nil {
		m.mockHeader = *c.WithMockHeader
	}
	typ := m.contentType
	if i := strings.LastIndexByte(typ, ';'); i >= 0 {
		typ = typ[:i]
	}
	format, ok := supportedTypes[typ]
	if !ok {
		return nil, errors.New("unsupported content type!")
	}
	m.format = format
	switch {
	case c.ResponseExample != nil:
		m.example = vartemplate.Compile(*c.ResponseExample)
		if s, ok := m.example.Static(); ok {
			m.staticBody = append([]byte{}, s...)
		}
	case len(c.ResponseSchema) > 0:
		g, err := compileRoot(c.ResponseSchema)
		if err != nil {
			return nil, err
		}
		m.schema = g
		if format == formatNone {
			logger := env.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Error("mocking: json schema body only support xml and json content type")
			m.staticBody = []byte{}
		}
	}
	names := make([]string, 0, len(c.ResponseHeaders))
	for k := range c.ResponseHeaders {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s, err := vartemplate.Scalar(c.ResponseHeaders[k])
		if err != nil {
			return nil, err
		}
		m.headers = append(m.headers, header{k, vartemplate.Compile(s)})
	}
	return m, nil
}

// Access answers the request with the mock response; the upstream is never contacted.
func (m *Mocking) Access(c plugin.Ctx) {
	c.SetRespHeader("Content-Type", m.contentType)
	if m.mockHeader {
		c.SetRespHeader("x-mock-by", mockBy)
	}
	for _, h := range m.headers {
		c.AddRespHeader(h.name, h.value.String(c))
	}
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	c.Exit(m.status, m.body(c))
}

func (m *Mocking) body(c plugin.Ctx) []byte {
	switch {
	case m.staticBody != nil:
		return m.staticBody
	case m.example != nil:
		b, _ := m.example.Append(make([]byte, 0, 256), c)
		return b
	case m.format == formatXML:
		return m.schema.appendXML(make([]byte, 0, 256), "data", 0)
	default:
		return m.schema.appendJSON(make([]byte, 0, 256))
	}
}

var _ plugin.Accessor = (*Mocking)(nil)
