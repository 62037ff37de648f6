// Package logentry builds the access-log entry APISIX's loggers send (apisix/utils/log-util.lua):
// the default entry (get_full_log), or a custom one from `log_format` (conf, else plugin
// metadata), with `log_format_extra`, and the request and response bodies when
// include_req_body / include_resp_body (and their `_expr`) ask for them.
//
// A logger compiles its conf once with New, and calls the Builder from its phases:
//
//	Access      reads the request body when the entry will need it (before it streams upstream)
//	BodyFilter  captures the response body up to max_resp_body_bytes
//	Build       (log phase) copies everything into an Entry the logger may keep and encode later
//
// An Entry owns its data; AppendJSON encodes it (off the request path).
//
// A batching logger (kafka, loki, elasticsearch ...) needs only NewBatched and a send function:
//
//	func New(raw json.RawMessage, env plugin.Env) (any, error) {
//		s := &sender{...}                       // parse the logger's own fields from raw
//		return logentry.NewBatched(raw, env, logentry.BatchedOptions{
//			Plugin: "kafka-logger", ProcessorName: "kafka logger"}, s.send)
//	}
//	func (s *sender) send(ctx context.Context, entries []*logentry.Entry) error {
//		body := logentry.Encode(nil, s.cfg, entries) // or e.AppendJSON per entry
//		...
//	}
//
// The returned instance implements Access, Log, Close (and BodyFilter when the conf captures
// the response body). Wrap *Batched (BatchedOptions.Compile) to add phases of your own.
package logentry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/internal/expr"
	"github.com/sluicegw/sluice/plugin"
)

// APISIXVersion is what server.version reports, as APISIX's core.version.
const APISIXVersion = "3.18.0"

// maxDepth is how deep log_format objects nest (log-util's max depth: deeper → {}).
const maxDepth = 5

// Conf is the entry-shaping part of a logger's conf (APISIX's log-util attributes).
type Conf struct {
	LogFormat           map[string]any `json:"log_format"`
	LogFormatExtra      map[string]any `json:"log_format_extra"`
	IncludeReqBody      bool           `json:"include_req_body"`
	IncludeReqBodyExpr  []any          `json:"include_req_body_expr"`
	MaxReqBodyBytes     int            `json:"max_req_body_bytes"`
	IncludeRespBody     bool           `json:"include_resp_body"`
	IncludeRespBodyExpr []any          `json:"include_resp_body_expr"`
	MaxRespBodyBytes    int            `json:"max_resp_body_bytes"`
}

// Options tune New for one logger.
type Options struct {
	// NoMatchRouteID is the route_id the default entry gets when no route matched
	// (http-logger and loki-logger: "no-matched"; others leave it absent).
	NoMatchRouteID string
}

// Builder is a compiled Conf.
type Builder struct {
	format   []field // nil: the default entry
	extra    []field // log_format_extra, merged into the default entry
	reqBody  bool
	reqExpr  *expr.Expr
	reqMax   int
	respBody bool
	respExpr *expr.Expr
	respMax  int
	// formatBody: log_format (or log_format_extra) reads $request_body.
	formatBody bool
	noMatch    string
	hostname   string
	version    string
	respKey    *int // per-request capture key (Ctx.Set), unique per Builder
}

// New compiles the entry part of a logger's conf. The metadata's log_format applies when the
// conf has none; its log_format_extra when the conf has none.
func New(conf json.RawMessage, env plugin.Env, o Options) (*Builder, error) {
	c := Conf{MaxReqBodyBytes: 524288, MaxRespBodyBytes: 524288}
	if len(conf) > 0 {
		if err := json.Unmarshal(conf, &c); err != nil {
			return nil, fmt.Errorf("log entry conf: %w", err)
		}
	}
	if len(env.Metadata) > 0 {
		var m struct {
			LogFormat      map[string]any `json:"log_format"`
			LogFormatExtra map[string]any `json:"log_format_extra"`
		}
		if err := json.Unmarshal(env.Metadata, &m); err != nil {
			return nil, fmt.Errorf("plugin metadata: %w", err)
		}
		if c.LogFormat == nil {
			c.LogFormat = m.LogFormat
		}
		if c.LogFormatExtra == nil {
			c.LogFormatExtra = m.LogFormatExtra
		}
	}
	b := &Builder{
		reqBody: c.IncludeReqBody, reqMax: max(c.MaxReqBodyBytes, 1),
		respBody: c.IncludeRespBody, respMax: max(c.MaxRespBodyBytes, 1),
		noMatch: o.NoMatchRouteID, version: APISIXVersion, respKey: new(int),
	}
	if len(c.LogFormat) > 0 {
		b.format = compileFormat(c.LogFormat, 1, &b.formatBody)
		// include_*_body are ignored with a log_format.
		b.reqBody, b.respBody = false, false
	} else if len(c.LogFormatExtra) > 0 {
		b.extra = compileFormat(c.LogFormatExtra, 1, &b.formatBody)
	}
	var err error
	if len(c.IncludeReqBodyExpr) > 0 {
		if b.reqExpr, err = expr.Compile(c.IncludeReqBodyExpr); err != nil {
			return nil, fmt.Errorf("failed to validate the 'include_req_body_expr' expression: %v", err)
		}
	}
	if len(c.IncludeRespBodyExpr) > 0 {
		if b.respExpr, err = expr.Compile(c.IncludeRespBodyExpr); err != nil {
			return nil, fmt.Errorf("failed to validate the 'include_resp_body_expr' expression: %v", err)
		}
	}
	if env.Node != nil {
		b.hostname = env.Node.Hostname()
	} else {
		b.hostname, _ = os.Hostname()
	}
	return b, nil
}

// CapturesResponse reports whether the logger must run in body_filter.
func (b *Builder) CapturesResponse() bool { return b.respBody }

// Access reads the request body when the entry will include it, so that it is buffered before
// the request is forwarded (a streamed body is gone by the log phase).
func (b *Builder) Access(c plugin.Ctx) {
	if b.formatBody || b.reqBody && (b.reqExpr == nil || b.reqExpr.Eval(c)) {
		_, _ = c.Body() // an error leaves the body out of the entry; the request goes on
	}
}

// respCapture is one request's captured response body.
type respCapture struct {
	on   bool // include_resp_body_expr held at the first chunk
	body []byte
	full bool
}

// BodyFilter captures the response body (up to max_resp_body_bytes) and passes chunk on.
func (b *Builder) BodyFilter(c plugin.Ctx, chunk []byte, eof bool) []byte {
	if !b.respBody {
		return chunk
	}
	rc, _ := c.Get(b.respKey).(*respCapture)
	if rc == nil {
		rc = &respCapture{on: b.respExpr == nil || b.respExpr.Eval(c)}
		c.Set(b.respKey, rc)
	}
	if rc.on && !rc.full {
		n := min(len(chunk), b.respMax-len(rc.body))
		rc.body = append(rc.body, chunk[:n]...)
		rc.full = len(rc.body) >= b.respMax
	}
	return chunk
}

// Build copies the request's entry out of c (log phase). The Entry stays valid after the phase.
func (b *Builder) Build(c plugin.Ctx) *Entry {
	e := &Entry{Host: string(c.Host()), Time: time.Now()}
	if b.format != nil {
		e.Fields = b.custom(c)
		return e
	}
	e.Default = b.full(c)
	if b.extra != nil {
		e.Fields = b.extraFields(c)
	}
	return e
}

// errNoStreamFormat is APISIX's error for a stream logger without log_format: the stream
// subsystem has no default entry.
var errNoStreamFormat = errors.New("log_format is not set")

// BuildStream is Build for a stream connection, which logs only with a log_format (its
// variables are the stream's: remote_addr, server_port, route_id, status, bytes_sent ...).
func (b *Builder) BuildStream(c plugin.StreamCtx) (*Entry, error) {
	lc, ok := c.(logCtx)
	if !ok || b.format == nil {
		return nil, errNoStreamFormat
	}
	return &Entry{Time: time.Now(), Fields: b.custom(lc)}, nil
}

// reqBodyText returns the request body truncated to max_req_body_bytes, as a string.
func (b *Builder) reqBodyText(c plugin.Ctx) (string, bool) {
	body, err := c.Body()
	if err != nil || body == nil {
		return "", false
	}
	if len(body) > b.reqMax {
		body = body[:b.reqMax]
	}
	return string(body), true
}

// lookupString resolves a compiled variable to an owned string.
func lookupString(c plugin.Vars, v *plugin.Var) (string, bool) {
	val, ok := c.Lookup(v)
	if !ok || val == nil {
		return "", false
	}
	return string(val), true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
