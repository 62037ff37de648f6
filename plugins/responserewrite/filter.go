package responserewrite

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/resub"
)

type filterConf struct {
	Regex   string  `json:"regex"`
	Scope   string  `json:"scope"`
	Replace string  `json:"replace"`
	Options *string `json:"options"`
}

type config struct {
	Headers         json.RawMessage `json:"headers"`
	Body            *string         `json:"body"`
	BodyBase64      bool            `json:"body_base64"`
	StatusCode      int             `json:"status_code"`
	Vars            []any           `json:"vars"`
	Filters         []filterConf    `json:"filters"`
	MaxRespBodySize *int            `json:"max_resp_body_size"`
}

type header struct {
	name  string
	value *vartemplate.Template
}

type filter struct {
	re     *regexp.Regexp
	repl   *resub.Template
	global bool
}

// ResponseRewrite is one compiled response-rewrite conf.
type ResponseRewrite struct {
	vars     *expr.Expr
	status   int
	body     []byte // nil: no body replacement
	filters  []filter
	maxBody  int
	add, set []header
	remove   []string
	logger   *slog.Logger
}

func newResponseRewrite(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	r := &ResponseRewrite{status: c.StatusCode, maxBody: 67108864, logger: env.Logger}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if c.MaxRespBodySize != nil {
		r.maxBody = *c.MaxRespBodySize
	}
	if c.BodyBase64 {
		if c.Body == nil || *c.Body == "" {
			return nil, errors.New("invalid base64 content")
		}
		b, err := base64.StdEncoding.DecodeString(*c.Body)
		if err != nil {
			return nil, errors.New("invalid base64 content")
		}
		r.body = b
	} else if c.Body != nil {
		r.body = append([]byte{}, *c.Body...)
	}
	if c.Vars != nil {
		e, err := expr.Compile(c.Vars)
		if err != nil {
			return nil, fmt.Errorf("failed to validate the 'vars' expression: %v", err)
		}
		r.vars = e
	}
	for _, f := range c.Filters {
		opts := "jo"
		if f.Options != nil {
			opts = *f.Options
		}
		re, err := resub.CompileRegex(f.Regex, opts)
		var repl *resub.Template
		if err == nil {
			repl, err = resub.Compile(f.Replace)
		}
		if err != nil {
			return nil, fmt.Errorf("regex \"%s\" validation failed: %v", f.Regex, err)
		}
		r.filters = append(r.filters, filter{re, repl, f.Scope == "global"})
	}
	if len(c.Headers) > 0 {
		if err := r.compileHeaders(c.Headers); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// addItem is the pattern APISIX parses each headers.add item with.
var addItem = regexp.MustCompile(`^([^:\s]+)\s*:\s*([^:]+)$`)

func (r *ResponseRewrite) compileHeaders(raw json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	newForm := false
	for _, k := range []string{"add", "set", "remove"} {
		if v := bytes.TrimSpace(obj[k]); len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			newForm = true
		}
	}
	if !newForm {
		var err error
		r.set, err = compileSet(obj)
		return err
	}
	if a := obj["add"]; len(a) > 0 {
		var items []string
		if err := json.Unmarshal(a, &items); err != nil {
			return err
		}
		for _, it := range items {
			m := addItem.FindStringSubmatch(it)
			if m == nil {
				// APISIX fails the whole header operation at request time and logs it.
				r.logger.Error("response-rewrite: failed to create header operation",
					"item", it)
				r.add, r.set, r.remove = nil, nil, nil
				return nil
			}
			r.add = append(r.add, header{m[1], vartemplate.Compile(m[2])})
		}
	}
	if s := obj["set"]; len(s) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(s, &m); err != nil {
			return err
		}
		var err error
		if r.set, err = compileSet(m); err != nil {
			return err
		}
	}
	if rm := obj["remove"]; len(rm) > 0 {
		if err := json.Unmarshal(rm, &r.remove); err != nil {
			return err
		}
	}
	return nil
}

func compileSet(m map[string]json.RawMessage) ([]header, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]header, 0, len(names))
	for _, k := range names {
		if k == "" {
			return nil, errors.New("invalid field length in header")
		}
		s, err := vartemplate.Scalar(m[k])
		if err != nil {
			return nil, errors.New("invalid type as header value")
		}
		out = append(out, header{k, vartemplate.Compile(s)})
	}
	return out, nil
}

// Per-request states kept under the instance's key (small integers box without allocating).
const (
	stateInert    uint8 = iota + 1 // vars false: leave the response alone
	stateMatched                   // headers done, no body work
	stateBody                      // replace the body on the first chunk
	stateBodyDone                  // body sent; drop what follows
)

// hold buffers the body for filters.
type hold struct {
	buf      []byte
	encoding string
}

var holdPool = sync.Pool{New: func() any { return &hold{buf: make([]byte, 0, 4096)} }}

// HeaderFilter evaluates vars once, then sets the status and edits the headers.
func (r *ResponseRewrite) HeaderFilter(c plugin.Ctx) {
	if !r.vars.Eval(c) {
		c.Set(r, stateInert)
		return
	}
	if r.status != 0 {
		c.SetStatus(r.status)
	}
	switch {
	case len(r.filters) > 0:
		h := holdPool.Get().(*hold)
		enc, _ := c.RespHeader("Content-Encoding")
		h.encoding = strings.ToLower(strings.TrimSpace(string(enc)))
		c.Set(r, h)
		clearBodyHeaders(c)
	case r.body != nil:
		c.Set(r, stateBody)
		clearBodyHeaders(c)
	default:
		c.Set(r, stateMatched)
	}
	var buf []byte
	for _, h := range r.add {
		c.AddRespHeader(h.name, render(h.value, c, &buf))
	}
	for _, h := range r.set {
		c.SetRespHeader(h.name, render(h.value, c, &buf))
	}
	for _, name := range r.remove {
		c.DelRespHeader(name)
	}
}

func render(t *vartemplate.Template, v plugin.Vars, buf *[]byte) string {
	if s, ok := t.Static(); ok {
		return s
	}
	*buf, _ = t.Append((*buf)[:0], v)
	return string(*buf)
}

// clearBodyHeaders is core.response.clear_header_as_body_modified.
func clearBodyHeaders(c plugin.Ctx) {
	c.DelRespHeader("Content-Length")
	c.DelRespHeader("Content-Encoding")
	c.DelRespHeader("Last-Modified")
	c.DelRespHeader("ETag")
}

// BodyFilter replaces the body, or buffers it and applies the filters at the end.
func (r *ResponseRewrite) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	switch st := c.Get(r).(type) {
	case uint8:
		switch st {
		case stateBody:
			c.Set(r, stateBodyDone)
			return r.body
		case stateBodyDone:
			return nil
		}
	case *hold:
		if room := r.maxBody - len(st.buf); room > 0 {
			st.buf = append(st.buf, chunk[:min(len(chunk), room)]...)
		}
		if !eof {
			return nil
		}
		c.Set(r, stateMatched)
		out := r.applyFilters(st)
		st.buf, st.encoding = st.buf[:0], ""
		if cap(st.buf) <= 1<<20 {
			holdPool.Put(st)
		}
		return out
	}
	return chunk
}

func (r *ResponseRewrite) applyFilters(h *hold) []byte {
	body := h.buf
	switch h.encoding {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, int64(r.maxBody)))
		}
		if err != nil {
			r.logger.Error("response-rewrite: failed to decode the gzip body", "err", err)
			return append([]byte(nil), h.buf...)
		}
	default:
		r.logger.Error("response-rewrite: unsupported content encoding, body not filtered",
			"encoding", h.encoding)
		return append([]byte(nil), h.buf...)
	}
	var out []byte
	for _, f := range r.filters {
		out, _ = resub.Sub(make([]byte, 0, len(body)+64), f.re, f.repl, body, f.global)
		body = out
	}
	if out == nil {
		out = append([]byte(nil), body...)
	}
	return out
}

var (
	_ plugin.HeaderFilterer = (*ResponseRewrite)(nil)
	_ plugin.BodyFilterer   = (*ResponseRewrite)(nil)
)
