package cors

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/sluicegw/sluice/plugin"
)

type conf struct {
	AllowOrigins              string   `json:"allow_origins"`
	AllowMethods              string   `json:"allow_methods"`
	AllowHeaders              string   `json:"allow_headers"`
	ExposeHeaders             *string  `json:"expose_headers"`
	MaxAge                    int64    `json:"max_age"`
	AllowCredential           bool     `json:"allow_credential"`
	AllowOriginsByRegex       []string `json:"allow_origins_by_regex"`
	AllowOriginsByMetadata    []string `json:"allow_origins_by_metadata"`
	TimingAllowOrigins        *string  `json:"timing_allow_origins"`
	TimingAllowOriginsByRegex []string `json:"timing_allow_origins_by_regex"`
}

type metadata struct {
	AllowOrigins map[string]string `json:"allow_origins"`
}

// allMethods is what allow_methods "**" expands to.
const allMethods = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE"

// CORS is one compiled cors conf.
type CORS struct {
	local      originRule   // allow_origins_by_regex when set, else allow_origins
	byMetadata []originRule // the metadata entries named by allow_origins_by_metadata, in order
	useMeta    bool         // allow_origins_by_metadata is configured
	// localAfterMeta: with metadata configured, the local rule is tried only when
	// allow_origins is not "*".
	localAfterMeta bool
	vary           bool // allow_origins != "*": add Vary: Origin

	timing     *originRule
	methods    string
	maxAge     string
	expose     string // "" → no Access-Control-Expose-Headers
	headers    string
	echoHdrs   bool // allow_headers "**"
	credential bool
	// needOrigin: some rule depends on the request Origin. Without one (the defaults:
	// allow_origins "*", no metadata, no timing rule) the Origin is not kept at all.
	needOrigin bool
}

// originKey keeps the request Origin seen in rewrite, as APISIX's ctx.original_request_origin,
// since a later plugin may rewrite the request header.
type originKey struct{}

// originState is the kept Origin. It is built once in rewrite and never written again, so
// origin may alias buf: one allocation instead of the string plus its boxing into Ctx.Set.
type originState struct {
	origin string
	buf    [64]byte
}

var errCredential = errors.New("you can not set '*' for other option when 'allow_credential' is true")

// New compiles a conf (plugins.md §4 cors), applying the schema defaults; env.Metadata is the
// cors plugin_metadata, whose allow_origins map allow_origins_by_metadata refers to.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	c := conf{AllowOrigins: "*", AllowMethods: "*", AllowHeaders: "*", MaxAge: 5}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.AllowCredential && (c.AllowOrigins == "*" || c.AllowMethods == "*" ||
		c.AllowHeaders == "*" || (c.ExposeHeaders != nil && *c.ExposeHeaders == "*") ||
		(c.TimingAllowOrigins != nil && *c.TimingAllowOrigins == "*")) {
		return nil, errCredential
	}
	p := &CORS{
		local:      newOriginRule(c.AllowOrigins),
		useMeta:    c.AllowOriginsByMetadata != nil,
		vary:       c.AllowOrigins != "*",
		methods:    c.AllowMethods,
		maxAge:     strconv.FormatInt(c.MaxAge, 10),
		headers:    c.AllowHeaders,
		echoHdrs:   c.AllowHeaders == "**",
		credential: c.AllowCredential,
	}
	p.localAfterMeta = p.useMeta && c.AllowOrigins != "*"
	if p.methods == "**" {
		p.methods = allMethods
	}
	if c.ExposeHeaders != nil {
		p.expose = *c.ExposeHeaders
	}
	if c.AllowOriginsByRegex != nil {
		r, err := newRegexRule(c.AllowOriginsByRegex)
		if err != nil {
			return nil, err
		}
		p.local = r
	}
	if p.useMeta && len(env.Metadata) > 0 {
		var md metadata
		if err := json.Unmarshal(env.Metadata, &md); err != nil {
			return nil, fmt.Errorf("cors plugin_metadata: %w", err)
		}
		for _, key := range c.AllowOriginsByMetadata {
			if s, ok := md.AllowOrigins[key]; ok {
				p.byMetadata = append(p.byMetadata, newOriginRule(s))
			}
		}
	}
	switch {
	case c.TimingAllowOriginsByRegex != nil:
		r, err := newRegexRule(c.TimingAllowOriginsByRegex)
		if err != nil {
			return nil, err
		}
		p.timing = &r
	case c.TimingAllowOrigins != nil:
		r := newOriginRule(*c.TimingAllowOrigins)
		p.timing = &r
	}
	p.needOrigin = p.useMeta || p.local.kind != ruleAny || p.timing != nil
	return p, nil
}

// Rewrite records the request Origin and answers every OPTIONS request with an empty 200;
// HeaderFilter then adds the CORS headers to it.
func (p *CORS) Rewrite(c plugin.Ctx) {
	if p.needOrigin {
		if o, ok := c.Header("Origin"); ok {
			st := new(originState)
			if len(o) <= len(st.buf) {
				b := append(st.buf[:0], o...)
				st.origin = unsafe.String(unsafe.SliceData(b), len(b))
			} else {
				st.origin = string(o)
			}
			c.Set(originKey{}, st)
		}
	}
	if m := c.Method(); string(m) == "OPTIONS" {
		c.Exit(200, nil)
	}
}

// HeaderFilter sets the CORS headers on every response, upstream's or an exit's.
func (p *CORS) HeaderFilter(c plugin.Ctx) {
	var origin string
	has := false
	if p.needOrigin {
		if st, ok := c.Get(originKey{}).(*originState); ok {
			origin, has = st.origin, true
		}
	}

	allow := outNone
	local := !p.useMeta
	if p.useMeta {
		matched := false
		for i := range p.byMetadata {
			if _, m := p.byMetadata[i].eval(origin, has); m {
				matched = true
				break
			}
		}
		switch {
		case matched && has:
			allow = outOrigin
		case !matched:
			local = p.localAfterMeta
		}
	}
	if local {
		allow, _ = p.local.eval(origin, has)
	}

	if p.vary {
		c.AddRespHeader("Vary", "Origin")
	}
	switch allow {
	case outStar:
		p.setHeaders(c, "*")
	case outOrigin:
		p.setHeaders(c, origin)
	}

	if p.timing != nil {
		switch out, _ := p.timing.eval(origin, has); out {
		case outStar:
			c.SetRespHeader("Timing-Allow-Origin", "*")
		case outOrigin:
			c.SetRespHeader("Timing-Allow-Origin", origin)
		}
	}
}

func (p *CORS) setHeaders(c plugin.Ctx, allowOrigin string) {
	c.SetRespHeader("Access-Control-Allow-Origin", allowOrigin)
	c.SetRespHeader("Access-Control-Allow-Methods", p.methods)
	c.SetRespHeader("Access-Control-Max-Age", p.maxAge)
	if p.expose != "" {
		c.SetRespHeader("Access-Control-Expose-Headers", p.expose)
	}
	if p.echoHdrs {
		// set_header with nil in APISIX removes the header.
		if h, ok := c.Header("Access-Control-Request-Headers"); ok {
			c.SetRespHeader("Access-Control-Allow-Headers", string(h))
		} else {
			c.DelRespHeader("Access-Control-Allow-Headers")
		}
	} else {
		c.SetRespHeader("Access-Control-Allow-Headers", p.headers)
	}
	if p.credential {
		c.SetRespHeader("Access-Control-Allow-Credentials", "true")
	}
}

var (
	_ plugin.Rewriter       = (*CORS)(nil)
	_ plugin.HeaderFilterer = (*CORS)(nil)
)
