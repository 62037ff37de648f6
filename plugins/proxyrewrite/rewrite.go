package proxyrewrite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/resub"
	"github.com/sluicegw/sluice/plugins/internal/uriescape"
)

type config struct {
	URI                     *string         `json:"uri"`
	Method                  string          `json:"method"`
	RegexURI                []string        `json:"regex_uri"`
	Host                    string          `json:"host"`
	Headers                 json.RawMessage `json:"headers"`
	UseRealRequestURIUnsafe bool            `json:"use_real_request_uri_unsafe"`
}

type regexPair struct {
	re   *regexp.Regexp
	repl *resub.Template
}

type header struct {
	name   string
	values []*vartemplate.Template // set: first replaces, the rest are added
}

// ProxyRewrite is one compiled proxy-rewrite conf.
type ProxyRewrite struct {
	uri      *vartemplate.Template
	regex    []regexPair
	host     string
	method   string
	unsafe   bool
	add, set []header
	remove   []string
	// staticPath is the upstream path when uri is a template without variables or '?':
	// rendered and escaped once here instead of per request.
	staticPath    string
	hasStaticPath bool
	// needBuf: some value is rendered per request (the path or a header template).
	needBuf bool
}

var requestURIVar = plugin.ParseVar("request_uri")

func newProxyRewrite(raw json.RawMessage, _ plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	p := &ProxyRewrite{host: c.Host, method: c.Method, unsafe: c.UseRealRequestURIUnsafe}
	if c.URI != nil {
		p.uri = vartemplate.Compile(*c.URI)
	}
	if len(c.RegexURI)%2 != 0 {
		return nil, fmt.Errorf("The length of regex_uri should be an even number")
	}
	for i := 0; i+1 < len(c.RegexURI); i += 2 {
		re, err := resub.CompileRegex(c.RegexURI[i], "jo")
		var repl *resub.Template
		if err == nil {
			repl, err = resub.Compile(c.RegexURI[i+1])
		}
		if err != nil {
			return nil, fmt.Errorf("invalid regex_uri(%s, %s): %v", c.RegexURI[i], c.RegexURI[i+1], err)
		}
		p.regex = append(p.regex, regexPair{re, repl})
	}
	if len(c.Headers) > 0 {
		if err := p.compileHeaders(c.Headers); err != nil {
			return nil, err
		}
	}
	if s, ok := p.uri.Static(); ok && p.uri != nil && !p.unsafe && strings.IndexByte(s, '?') < 0 {
		p.staticPath, p.hasStaticPath = string(uriescape.AppendURI(nil, []byte(s))), true
	}
	p.needBuf = !p.hasStaticPath
	for _, hs := range [][]header{p.add, p.set} {
		for _, h := range hs {
			for _, v := range h.values {
				if _, ok := v.Static(); !ok {
					p.needBuf = true
				}
			}
		}
	}
	return p, nil
}

// compileHeaders reads the 3.x form {add, set, remove} or the legacy flat form (= set).
func (p *ProxyRewrite) compileHeaders(raw json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	if isNewForm(obj) {
		var err error
		if p.add, err = compileHeaderMap(obj["add"], false); err != nil {
			return err
		}
		if p.set, err = compileHeaderMap(obj["set"], false); err != nil {
			return err
		}
		if r := obj["remove"]; len(r) > 0 {
			if err := json.Unmarshal(r, &p.remove); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	p.set, err = compileHeaderMap(raw, true)
	return err
}

// isNewForm is is_new_headers_conf: add, set or remove holds an object or array.
func isNewForm(obj map[string]json.RawMessage) bool {
	for _, k := range []string{"add", "set", "remove"} {
		if v := bytes.TrimSpace(obj[k]); len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			return true
		}
	}
	return false
}

func compileHeaderMap(raw json.RawMessage, legacy bool) ([]header, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names) // Lua's pairs order is unspecified; Sluice's is stable
	out := make([]header, 0, len(names))
	for _, name := range names {
		v := bytes.TrimSpace(m[name])
		var items []json.RawMessage
		if len(v) > 0 && v[0] == '[' && !legacy {
			if err := json.Unmarshal(v, &items); err != nil {
				return nil, err
			}
		} else {
			items = []json.RawMessage{v}
		}
		h := header{name: name}
		for _, it := range items {
			s, err := vartemplate.Scalar(it)
			if err != nil {
				return nil, fmt.Errorf("invalid type as header value")
			}
			if legacy {
				if err := checkLegacyHeader(name, s); err != nil {
					return nil, err
				}
			}
			h.values = append(h.values, vartemplate.CompileWithCaptures(s))
		}
		out = append(out, h)
	}
	return out, nil
}

// checkLegacyHeader is check_set_headers: names of '!'..'~' except ':', values without controls.
func checkLegacyHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("invalid field length in header")
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b <= 32 || b >= 127 || b == ':' {
			return fmt.Errorf("invalid field character in header")
		}
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; b < 32 || b >= 127 {
			return fmt.Errorf("invalid value character in header")
		}
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// escapeSeparator is escape_separator: a '?' inside a substituted value must not start a query.
func escapeSeparator(dst, v []byte) []byte {
	for _, c := range v {
		if c == '?' {
			dst = append(dst, "%3F"...)
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// Rewrite applies host, path, headers and method, in APISIX's order.
func (p *ProxyRewrite) Rewrite(c plugin.Ctx) {
	if p.host != "" {
		c.SetUpstreamHost(p.host)
	}
	var bp *[]byte
	if p.needBuf {
		bp = bufPool.Get().(*[]byte)
		defer func() { *bp = (*bp)[:0]; bufPool.Put(bp) }()
	}

	var caps *vartemplate.Captures
	if p.hasStaticPath {
		// what rewritePath renders for it, without the query: the original one is kept
		c.SetURI(p.staticPath)
	} else {
		caps = p.rewritePath(c, bp)
	}

	for i := range p.add {
		h := &p.add[i]
		for _, v := range h.values {
			c.AddHeader(h.name, p.render(c, v, caps, bp))
		}
	}
	for i := range p.set {
		h := &p.set[i]
		c.SetHeader(h.name, p.render(c, h.values[0], caps, bp))
		for _, v := range h.values[1:] {
			c.AddHeader(h.name, p.render(c, v, caps, bp))
		}
	}
	for _, name := range p.remove {
		c.DelHeader(name)
	}
	if p.method != "" {
		c.SetMethod(p.method)
	}
}

func (p *ProxyRewrite) render(c plugin.Ctx, t *vartemplate.Template, caps *vartemplate.Captures, bp *[]byte) string {
	if s, ok := t.Static(); ok {
		return s
	}
	*bp, _ = t.AppendCaptures((*bp)[:0], c, caps)
	return string(*bp)
}

// rewritePath sets the upstream URI; it returns the regex_uri captures for header templates.
func (p *ProxyRewrite) rewritePath(c plugin.Ctx, bp *[]byte) *vartemplate.Captures {
	var src []byte
	if p.unsafe {
		src, _ = c.Lookup(&requestURIVar)
	} else {
		src = c.URI()
	}
	buf := (*bp)[:0]
	rewritten, separatorEscaped := false, false
	var caps *vartemplate.Captures
	switch {
	case p.uri != nil:
		buf, _ = p.uri.AppendEscaped(buf, c, escapeSeparator)
		rewritten, separatorEscaped = true, true
	case len(p.regex) > 0:
		separatorEscaped = bytes.IndexByte(src, '?') < 0
		for _, rp := range p.regex {
			idx := rp.re.FindSubmatchIndex(src)
			if idx == nil {
				continue
			}
			caps = &vartemplate.Captures{Src: string(src), Idx: idx}
			buf = append(buf, src[:idx[0]]...)
			buf = rp.repl.Expand(buf, src, idx)
			buf = append(buf, src[idx[1]:]...)
			rewritten = true
			break
		}
	}
	if !rewritten {
		buf = append(buf, src...)
	}
	_, args, hasArgs := bytes.Cut(c.RequestURI(), []byte{'?'})

	if p.unsafe {
		if p.uri != nil && hasArgs { // 3.16: the original query is re-appended
			buf = appendArgs(buf, bytes.IndexByte(buf, '?') >= 0, args)
		}
		c.SetRequestURI(string(buf))
		*bp = buf
		return caps
	}

	path, query, hasQuery := buf, []byte(nil), false
	if separatorEscaped {
		if i := bytes.IndexByte(buf, '?'); i >= 0 {
			path, query, hasQuery = buf[:i], buf[i+1:], true
		}
	}
	out := uriescape.AppendURI(buf[len(buf):], path) // reuse the tail of the same buffer
	if !hasQuery {
		c.SetURI(string(out))
		*bp = buf
		return caps
	}
	out = append(out, '?')
	out = uriescape.AppendControls(out, query)
	if hasArgs {
		out = appendArgs(out, true, args)
	}
	c.SetRequestURI(string(out))
	*bp = buf
	return caps
}

func appendArgs(dst []byte, hasQuery bool, args []byte) []byte {
	if hasQuery {
		dst = append(dst, '&')
	} else {
		dst = append(dst, '?')
	}
	return append(dst, args...)
}

var _ plugin.Rewriter = (*ProxyRewrite)(nil)
