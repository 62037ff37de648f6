package redirect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/resub"
	"github.com/sluicegw/sluice/plugins/internal/uriescape"
)

type config struct {
	RetCode           *int     `json:"ret_code"`
	URI               *string  `json:"uri"`
	RegexURI          []string `json:"regex_uri"`
	HTTPToHTTPS       bool     `json:"http_to_https"`
	EncodeURI         bool     `json:"encode_uri"`
	AppendQueryString bool     `json:"append_query_string"`
}

// httpsPort is the port http_to_https redirects to, as APISIX's redirect finds it:
// plugin_attr.redirect.https_port, else a port of apisix.ssl.listen when ssl is enabled
// (9443 by default), else none.
func httpsPort(node plugin.Node) int {
	if node == nil {
		return 9443
	}
	var attr struct {
		HTTPSPort int `json:"https_port"`
	}
	if raw := node.Config("plugin_attr.redirect"); raw != nil && json.Unmarshal(raw, &attr) == nil && attr.HTTPSPort > 0 {
		return attr.HTTPSPort
	}
	var ssl struct {
		Enable bool `json:"enable"`
		Listen []struct {
			Port int `json:"port"`
		} `json:"listen"`
	}
	if raw := node.Config("apisix.ssl"); raw == nil || json.Unmarshal(raw, &ssl) != nil || !ssl.Enable || len(ssl.Listen) == 0 {
		return 0
	}
	return ssl.Listen[0].Port
}

// Redirect is one compiled redirect conf.
type Redirect struct {
	retCode     int
	uri         *vartemplate.Template
	re          *regexp.Regexp
	repl        *resub.Template
	httpToHTTPS bool
	portSuffix  string // ":9443", or "" when the port is 443 / out of range
	encodeURI   bool
	appendQuery bool
}

var (
	requestURIVar = plugin.ParseVar("request_uri")
)

func newRedirect(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if c.HTTPToHTTPS && c.AppendQueryString {
		return nil, errors.New("only one of `http_to_https` and `append_query_string` can be configured.")
	}
	r := &Redirect{retCode: 302, httpToHTTPS: c.HTTPToHTTPS, encodeURI: c.EncodeURI,
		appendQuery: c.AppendQueryString}
	if c.RetCode != nil {
		r.retCode = *c.RetCode
	}
	if c.URI != nil {
		r.uri = vartemplate.CompileLegacy(*c.URI)
	}
	if len(c.RegexURI) == 2 {
		re, err := resub.CompileRegex(c.RegexURI[0], "jo")
		var repl *resub.Template
		if err == nil {
			repl, err = resub.Compile(c.RegexURI[1])
		}
		if err != nil {
			return nil, fmt.Errorf("invalid regex_uri (%s, %s), err:%v", c.RegexURI[0], c.RegexURI[1], err)
		}
		r.re, r.repl = re, repl
	}
	if p := httpsPort(env.Node); p > 0 && p != 443 && p <= 65535 {
		r.portSuffix = ":" + strconv.Itoa(p)
	}
	return r, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Rewrite answers with the redirect, or lets the request through (https already, or a
// regex_uri that does not match).
func (r *Redirect) Rewrite(c plugin.Ctx) {
	bp := bufPool.Get().(*[]byte)
	defer func() { *bp = (*bp)[:0]; bufPool.Put(bp) }()
	buf := (*bp)[:0]
	code := r.retCode

	switch {
	case r.httpToHTTPS:
		scheme := []byte(c.Scheme())
		if proto, ok := c.Header("X-Forwarded-Proto"); ok {
			scheme = proto
		}
		if string(scheme) == "https" {
			return
		}
		buf = append(buf, "https://"...)
		buf = append(buf, c.Host()...)
		buf = append(buf, r.portSuffix...)
		ru, _ := c.Lookup(&requestURIVar)
		buf = append(buf, ru...)
		if m := c.Method(); string(m) == "GET" || string(m) == "HEAD" {
			code = 301
		} else {
			code = 308
		}
	case r.uri != nil:
		buf, _ = r.uri.Append(buf, c)
	case r.re != nil:
		src := c.URI()
		idx := r.re.FindSubmatchIndex(src)
		if idx == nil {
			return
		}
		buf = append(buf, src[:idx[0]]...)
		buf = r.repl.Expand(buf, src, idx)
		buf = append(buf, src[idx[1]:]...)
	default:
		return
	}

	hasQuery := bytes.IndexByte(buf, '?') >= 0
	if r.encodeURI {
		path, rest := buf, []byte(nil)
		if i := bytes.IndexByte(buf, '?'); i >= 0 {
			path, rest = buf[:i], buf[i:]
		}
		if uriescape.NeedsURI(path) {
			out := uriescape.AppendURI(make([]byte, 0, len(buf)+16), path)
			buf = append(out, rest...)
		}
	}
	if r.appendQuery {
		if _, q, ok := bytes.Cut(mustLookup(c, &requestURIVar), []byte{'?'}); ok {
			if hasQuery {
				buf = append(buf, '&')
			} else {
				buf = append(buf, '?')
			}
			buf = append(buf, q...)
		}
	}
	c.SetRespHeader("Location", string(buf))
	*bp = buf
	c.Exit(code, nil)
}

func mustLookup(c plugin.Ctx, v *plugin.Var) []byte {
	b, _ := c.Lookup(v)
	return b
}

var _ plugin.Rewriter = (*Redirect)(nil)
