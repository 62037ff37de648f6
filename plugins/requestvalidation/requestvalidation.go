// Package requestvalidation implements APISIX's request-validation plugin: in the rewrite
// phase it validates the request headers and/or body against JSON Schemas compiled in New, and
// rejects a request that fails with rejected_code and rejected_msg (else the validator's
// message, worded as api7/jsonschema words it).
package requestvalidation

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "request-validation",
		Priority:       2800,
		Version:        "0.1",
		Type:           "validation",
		Schema:         schema,
		DefaultEnabled: true,
		New:            New,
	})
}

type conf struct {
	HeaderSchema   json.RawMessage `json:"header_schema"`
	BodySchema     json.RawMessage `json:"body_schema"`
	RejectedCode   int             `json:"rejected_code"`
	RejectedMsg    *string         `json:"rejected_msg"`
	MaxReqBodySize int64           `json:"max_req_body_size"`
}

// Validation is one compiled request-validation conf.
type Validation struct {
	header, body *model.Schema
	code         int
	msg          []byte // nil: the validator's message (or nginx's page where there is none)
	maxBody      int64
	log          *slog.Logger
}

// New compiles conf; an invalid header_schema or body_schema fails it, so the Admin API
// rejects the write as APISIX's check_schema does.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := conf{RejectedCode: 400, MaxReqBodySize: 64 << 20}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("request-validation: %w", err)
	}
	v := &Validation{code: c.RejectedCode, maxBody: c.MaxReqBodySize, log: env.Logger}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if c.RejectedMsg != nil {
		v.msg = []byte(*c.RejectedMsg)
	}
	var err error
	if len(c.HeaderSchema) > 0 {
		if v.header, err = compileSchema("header_schema", c.HeaderSchema); err != nil {
			return nil, err
		}
	}
	if len(c.BodySchema) > 0 {
		if v.body, err = compileSchema("body_schema", c.BodySchema); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func compileSchema(name string, raw json.RawMessage) (*model.Schema, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sch, err := model.CompileSchema("request-validation:///"+name+".json", doc)
	if err != nil {
		return nil, fmt.Errorf("invalid %s: %w", name, err)
	}
	return sch, nil
}

// Rewrite validates the headers, then the body, as APISIX's rewrite does.
func (v *Validation) Rewrite(c plugin.Ctx) {
	if v.header != nil {
		if msg := v.header.Check(headerMap(c)); msg != "" {
			v.log.Debug("request headers failed validation", "error", msg)
			v.reject(c, msg)
			return
		}
	}
	if v.body != nil {
		v.checkBody(c)
	}
}

// reject ends the request with rejected_code and rejected_msg, else msg; with neither the
// client gets nginx's page for the code (APISIX's bare `return code`).
func (v *Validation) reject(c plugin.Ctx, msg string) {
	switch {
	case v.msg != nil:
		c.Exit(v.code, v.msg)
	case msg != "":
		c.Exit(v.code, []byte(msg))
	default:
		c.Exit(v.code, nil)
	}
}

// headerMap is the request headers as ngx.req.get_headers() gives them to the validator:
// lower-case names, a repeated header as an array of its values in order.
func headerMap(c plugin.Ctx) map[string]any {
	m := make(map[string]any, 16)
	c.VisitHeaders(func(name, value []byte) {
		k := string(bytes.ToLower(name))
		switch prev := m[k].(type) {
		case nil:
			m[k] = string(value)
		case string:
			m[k] = []any{prev, string(value)}
		case []any:
			m[k] = append(prev, string(value))
		}
	})
	return m
}

// checkBody reads, decodes and validates the body; a JSON body that passes is re-encoded and
// replaces the body sent upstream, as APISIX does, so the upstream sees exactly the document
// that was validated (with a duplicated key, the last value: the one validated).
func (v *Validation) checkBody(c plugin.Ctx) {
	ctype, nctype := "", 0
	c.VisitHeaders(func(name, value []byte) {
		if len(name) == len("content-type") && bytes.EqualFold(name, []byte("content-type")) {
			ctype = string(value)
			nctype++
		}
	})
	if nctype > 1 {
		v.log.Debug("request has more than one Content-Type")
		v.reject(c, "")
		return
	}
	if cl, ok := c.Header("Content-Length"); ok {
		if n, err := strconv.ParseInt(string(cl), 10, 64); err == nil && n > v.maxBody {
			v.log.Debug("request body larger than max_req_body_size", "size", n)
			v.reject(c, "")
			return
		}
	}
	body, err := c.Body()
	if err != nil || len(body) == 0 || int64(len(body)) > v.maxBody {
		v.log.Debug("request body not read", "error", err, "size", len(body))
		v.reject(c, "")
		return
	}
	if isForm(ctype) {
		if msg := v.body.Check(decodeForm(body)); msg != "" {
			v.log.Debug("request body failed validation", "error", msg)
			v.reject(c, msg)
		}
		return
	}
	doc, err := decodeJSON(body)
	if err != nil {
		v.log.Debug("request body is not JSON", "error", err)
		v.reject(c, err.Error())
		return
	}
	if msg := v.body.Check(doc); msg != "" {
		v.log.Debug("request body failed validation", "error", msg)
		v.reject(c, msg)
		return
	}
	out, err := encodeJSON(doc)
	if err != nil {
		v.log.Error("re-encode validated body", "error", err)
		v.reject(c, "")
		return
	}
	c.SetBody(out)
}

var _ plugin.Rewriter = (*Validation)(nil)
