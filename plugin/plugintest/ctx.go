// Package plugintest provides an in-memory plugin.Ctx for unit-testing plugins without a
// gateway. End-to-end behaviour is still tested through the real binary.
package plugintest

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// Ctx is a plugin.Ctx over plain Go values. Fill the exported fields, run a phase, inspect.
type Ctx struct {
	MethodV     string
	Path        string // $uri
	Query       url.Values
	HostV       string
	Remote      netip.Addr
	RemotePort  uint16 // $remote_port; 0 reads as empty
	SchemeV     string
	ReqHeader   http.Header
	ReqBody     []byte
	UpstreamHdr string // set by SetUpstreamHost
	// MaxBodySize is what SetMaxBodySize set (plugin.BodyLimiter); -1 until it is called.
	MaxBodySize int64

	ExitStatus int
	ExitBody   []byte
	exited     bool
	StatusV    int
	RespHdr    http.Header

	Route, Service string
	ConsumerV      *plugin.Consumer
	Index          any
	values         map[any]any
	VarsV          map[string]string // extra variables by name (route_id ...)

	Info Info // plugin.RequestInfo (info.go)
	// UpstreamSetter / StreamExiter records (info.go).
	UpstreamV      plugin.Upstream
	UpstreamIDV    string
	KnownUpstreams map[string]bool
	ExitSize       int64
}

// New returns a GET / request from 127.0.0.1.
func New() *Ctx {
	return &Ctx{MethodV: "GET", Path: "/", Query: url.Values{}, HostV: "localhost",
		Remote: netip.MustParseAddr("127.0.0.1"), SchemeV: "http",
		ReqHeader: http.Header{}, RespHdr: http.Header{}, StatusV: 200, MaxBodySize: -1,
		Info: Info{Start: time.Now(), UpLatency: -1}}
}

var (
	_ plugin.Ctx              = (*Ctx)(nil)
	_ plugin.RemoteAddrSetter = (*Ctx)(nil)
	_ plugin.BodyLimiter      = (*Ctx)(nil)
)

// SetMaxBodySize records n in MaxBodySize.
func (c *Ctx) SetMaxBodySize(n int64) { c.MaxBodySize = n }

func (c *Ctx) Lookup(v *plugin.Var) ([]byte, bool) {
	switch v.Kind {
	case plugin.VarArg:
		if vs, ok := c.Query[v.Name]; ok && len(vs) > 0 {
			return []byte(vs[0]), true
		}
	case plugin.VarHeader:
		return c.Header(v.Name)
	case plugin.VarCookie:
		return c.Cookie(v.Name)
	case plugin.VarURI:
		return []byte(c.Path), true
	case plugin.VarRequestURI:
		return c.RequestURI(), true
	case plugin.VarHost:
		return []byte(c.HostV), true
	case plugin.VarRemoteAddr:
		return []byte(c.Remote.String()), true
	case plugin.VarRemotePort:
		if c.RemotePort == 0 {
			return []byte{}, true
		}
		return strconv.AppendUint(nil, uint64(c.RemotePort), 10), true
	case plugin.VarRequestMethod:
		return []byte(c.MethodV), true
	case plugin.VarScheme:
		return []byte(c.SchemeV), true
	case plugin.VarQueryString:
		return []byte(c.Query.Encode()), true
	case plugin.VarRouteID:
		return []byte(c.Route), c.Route != ""
	case plugin.VarServiceID:
		return []byte(c.Service), c.Service != ""
	case plugin.VarConsumerName:
		if c.ConsumerV != nil {
			return []byte(c.ConsumerV.Username), true
		}
	case plugin.VarRequestID:
		if s, ok := c.VarsV["apisix_request_id"]; ok {
			return []byte(s), true
		}
	case plugin.VarStatus:
		if s, ok := c.VarsV["status"]; ok {
			return []byte(s), true
		}
		return strconv.AppendInt(nil, int64(c.StatusV), 10), true
	default:
		if s, ok := c.VarsV[v.Name]; ok {
			return []byte(s), true
		}
	}
	return nil, false
}

func (c *Ctx) Method() []byte         { return []byte(c.MethodV) }
func (c *Ctx) URI() []byte            { return []byte(c.Path) }
func (c *Ctx) Host() []byte           { return []byte(c.HostV) }
func (c *Ctx) RemoteAddr() netip.Addr { return c.Remote }
func (c *Ctx) Scheme() string         { return c.SchemeV }

// SetRemoteAddr replaces Remote and RemotePort, as the engines do for real-ip.
func (c *Ctx) SetRemoteAddr(addr netip.Addr, port uint16) { c.Remote, c.RemotePort = addr, port }
func (c *Ctx) RequestURI() []byte {
	if q := c.Query.Encode(); q != "" {
		return []byte(c.Path + "?" + q)
	}
	return []byte(c.Path)
}

func (c *Ctx) Header(name string) ([]byte, bool) {
	vs := c.ReqHeader.Values(name)
	if len(vs) == 0 {
		return nil, false
	}
	return []byte(vs[0]), true
}

func (c *Ctx) VisitHeaders(fn func(name, value []byte)) {
	for k, vs := range c.ReqHeader {
		for _, v := range vs {
			fn([]byte(k), []byte(v))
		}
	}
}

func (c *Ctx) SetHeader(name, value string) { c.ReqHeader.Set(name, value) }
func (c *Ctx) AddHeader(name, value string) { c.ReqHeader.Add(name, value) }
func (c *Ctx) DelHeader(name string)        { c.ReqHeader.Del(name) }

func (c *Ctx) Arg(name string) ([]byte, bool) {
	if vs, ok := c.Query[name]; ok && len(vs) > 0 {
		return []byte(vs[0]), true
	}
	return nil, false
}
func (c *Ctx) SetArg(name, value string) { c.Query.Set(name, value) }
func (c *Ctx) DelArg(name string)        { c.Query.Del(name) }

func (c *Ctx) Cookie(name string) ([]byte, bool) {
	r := http.Request{Header: c.ReqHeader}
	ck, err := r.Cookie(name)
	if err != nil {
		return nil, false
	}
	return []byte(ck.Value), true
}

func (c *Ctx) Body() ([]byte, error) { return c.ReqBody, nil }
func (c *Ctx) SetBody(b []byte)      { c.ReqBody = b }
func (c *Ctx) SetURI(path string)    { c.Path = path }
func (c *Ctx) SetRequestURI(uri string) {
	path, q, _ := strings.Cut(uri, "?")
	c.Path = path
	c.Query, _ = url.ParseQuery(q)
}
func (c *Ctx) SetMethod(m string)          { c.MethodV = m }
func (c *Ctx) SetUpstreamHost(host string) { c.UpstreamHdr = host }

func (c *Ctx) Exit(status int, body []byte) {
	c.exited, c.ExitStatus, c.ExitBody, c.StatusV = true, status, body, status
}
func (c *Ctx) Exited() bool { return c.exited }

func (c *Ctx) Status() int        { return c.StatusV }
func (c *Ctx) SetStatus(code int) { c.StatusV = code }
func (c *Ctx) RespHeader(name string) ([]byte, bool) {
	vs := c.RespHdr.Values(name)
	if len(vs) == 0 {
		return nil, false
	}
	return []byte(vs[0]), true
}
func (c *Ctx) SetRespHeader(name, value string) { c.RespHdr.Set(name, value) }
func (c *Ctx) AddRespHeader(name, value string) { c.RespHdr.Add(name, value) }
func (c *Ctx) DelRespHeader(name string)        { c.RespHdr.Del(name) }

func (c *Ctx) RouteID() string                   { return c.Route }
func (c *Ctx) ServiceID() string                 { return c.Service }
func (c *Ctx) Consumer() *plugin.Consumer        { return c.ConsumerV }
func (c *Ctx) AttachConsumer(p *plugin.Consumer) { c.ConsumerV = p }
func (c *Ctx) Credentials() any                  { return c.Index }

func (c *Ctx) Set(key, value any) {
	if c.values == nil {
		c.values = map[any]any{}
	}
	c.values[key] = value
}
func (c *Ctx) Get(key any) any { return c.values[key] }
