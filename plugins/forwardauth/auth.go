package forwardauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

// conf is the conf with the schema defaults applied.
type conf struct {
	URI              string                     `json:"uri"`
	RequestMethod    string                     `json:"request_method"`
	MaxReqBodySize   int64                      `json:"max_req_body_size"`
	RequestHeaders   []string                   `json:"request_headers"`
	ExtraHeaders     map[string]json.RawMessage `json:"extra_headers"`
	UpstreamHeaders  []string                   `json:"upstream_headers"`
	ClientHeaders    []string                   `json:"client_headers"`
	Timeout          int64                      `json:"timeout"`
	SSLVerify        bool                       `json:"ssl_verify"`
	Keepalive        bool                       `json:"keepalive"`
	KeepaliveTimeout int64                      `json:"keepalive_timeout"`
	KeepalivePool    int                        `json:"keepalive_pool"`
	AllowDegradation bool                       `json:"allow_degradation"`
	StatusOnError    int                        `json:"status_on_error"`
}

// extraHeader is one compiled extra_headers entry.
type extraHeader struct {
	name  string
	value *vartemplate.Template
}

// ForwardAuth is one compiled forward-auth conf. It owns its HTTP transport (connection pool),
// released by Close.
type ForwardAuth struct {
	url              *url.URL
	urlErr           error
	post             bool
	maxBody          int64
	requestHeaders   []string
	extra            []extraHeader
	upstreamHeaders  []string
	clientHeaders    []string
	allowDegradation bool
	statusOnError    int
	transport        *http.Transport
	client           *http.Client
	log              *slog.Logger
}

// requestURI is $request_uri, sent as X-Forwarded-Uri.
var requestURI = plugin.Var{Kind: plugin.VarRequestURI}

// New compiles a forward-auth conf and builds its transport.
func New(raw json.RawMessage, env plugin.Env) (any, error) {
	cf := conf{
		RequestMethod: "GET", MaxReqBodySize: 64 << 20, Timeout: 3000, SSLVerify: true,
		Keepalive: true, KeepaliveTimeout: 60000, KeepalivePool: 5, StatusOnError: 403,
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("forward-auth: %w", err)
	}
	f := &ForwardAuth{
		post:             cf.RequestMethod == "POST",
		maxBody:          cf.MaxReqBodySize,
		requestHeaders:   cf.RequestHeaders,
		upstreamHeaders:  cf.UpstreamHeaders,
		clientHeaders:    cf.ClientHeaders,
		allowDegradation: cf.AllowDegradation,
		statusOnError:    cf.StatusOnError,
		log:              env.Logger,
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	// The schema accepts any string: an unusable uri fails each request as an unreachable
	// service would, as in APISIX, rather than failing the route.
	u, err := url.Parse(cf.URI)
	if err == nil && ((u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		err = fmt.Errorf("unsupported uri %q: want http:// or https://", cf.URI)
	}
	f.url, f.urlErr = u, err
	names := make([]string, 0, len(cf.ExtraHeaders))
	for name := range cf.ExtraHeaders {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := vartemplate.Scalar(cf.ExtraHeaders[name])
		if err != nil {
			return nil, fmt.Errorf("forward-auth: extra_headers %q: %w", name, err)
		}
		f.extra = append(f.extra, extraHeader{name: name, value: vartemplate.Compile(v)})
	}
	timeout := time.Duration(cf.Timeout) * time.Millisecond
	f.transport = &http.Transport{
		Proxy:                 nil, // the auth service is called directly, as lua-resty-http does
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: !cf.SSLVerify}, //nolint:gosec // ssl_verify: false is the user's choice
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     !cf.Keepalive,
		IdleConnTimeout:       time.Duration(cf.KeepaliveTimeout) * time.Millisecond,
		MaxIdleConns:          cf.KeepalivePool,
		MaxIdleConnsPerHost:   cf.KeepalivePool,
		DisableCompression:    true, // the auth body is relayed verbatim
	}
	// Timeout bounds the whole exchange; lua-resty-http applies it to each connect, send and read.
	f.client = &http.Client{
		Transport:     f.transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f, nil
}

// Close releases the instance's idle connections to the auth service.
func (f *ForwardAuth) Close() { f.transport.CloseIdleConnections() }

// authHeader is one header of the auth request, keyed by its exact spelling as the Lua table
// is: a name spelled differently is a second header line.
type authHeader struct{ name, value string }

// Access asks the auth service about the request: ≥300 answers the client with the service's
// status and body, <300 copies upstream_headers onto the request and lets it through.
func (f *ForwardAuth) Access(c plugin.Ctx) {
	uri, _ := c.Lookup(&requestURI)
	hdrs := make([]authHeader, 0, 8+len(f.extra)+len(f.requestHeaders))
	hdrs = append(hdrs,
		authHeader{"X-Forwarded-Proto", c.Scheme()},
		authHeader{"X-Forwarded-Method", string(c.Method())},
		authHeader{"X-Forwarded-Host", string(c.Host())},
		authHeader{"X-Forwarded-Uri", string(uri)},
		authHeader{"X-Forwarded-For", c.RemoteAddr().String()},
	)
	var body []byte
	if f.post {
		if v, ok := c.Header("Content-Encoding"); ok {
			hdrs = append(hdrs, authHeader{"Content-Encoding", string(v)})
		}
		var ok bool
		if body, ok = f.readBody(c); !ok {
			c.Exit(http.StatusRequestEntityTooLarge, nil)
			return
		}
	}
	var buf []byte
	for _, e := range f.extra {
		buf, _ = e.value.Append(buf[:0], c)
		hdrs = setHeader(hdrs, e.name, string(buf))
	}
	for _, name := range f.requestHeaders {
		if !hasHeader(hdrs, name) {
			if v, ok := c.Header(name); ok {
				hdrs = append(hdrs, authHeader{name, string(v)})
			}
		}
	}

	res, resBody, err := f.call(hdrs, body)
	if err != nil {
		if f.allowDegradation {
			return
		}
		f.log.Warn("forward-auth: failed to process forward auth", "error", err)
		c.Exit(f.statusOnError, nil)
		return
	}
	if res.StatusCode >= 300 {
		for _, name := range f.clientHeaders {
			for i, v := range res.Header.Values(name) {
				if i == 0 {
					c.SetRespHeader(name, v)
				} else {
					c.AddRespHeader(name, v)
				}
			}
		}
		c.Exit(res.StatusCode, resBody)
		return
	}
	// A header the service did not return is removed, so a client cannot supply it itself.
	for _, name := range f.upstreamHeaders {
		vs := res.Header.Values(name)
		if len(vs) == 0 {
			c.DelHeader(name)
			continue
		}
		c.SetHeader(name, vs[0])
		for _, v := range vs[1:] {
			c.AddHeader(name, v)
		}
	}
}

// readBody buffers the client body for a POST; ok is false when it exceeds max_req_body_size
// (by Content-Length or by what was read) or cannot be buffered.
func (f *ForwardAuth) readBody(c plugin.Ctx) ([]byte, bool) {
	if cl, ok := c.Header("Content-Length"); ok {
		if n, err := strconv.ParseInt(string(cl), 10, 64); err == nil && n > f.maxBody {
			return nil, false
		}
	}
	body, err := c.Body()
	if err != nil {
		f.log.Warn("forward-auth: failed to read request body", "error", err)
		return nil, false
	}
	if int64(len(body)) > f.maxBody {
		return nil, false
	}
	return bytes.Clone(body), true // the engine's buffer is not ours past this phase
}

// call sends the auth request and reads the whole response, as lua-resty-http's request_uri
// does: a failure to read the body is a transport error too.
func (f *ForwardAuth) call(hdrs []authHeader, body []byte) (*http.Response, []byte, error) {
	if f.urlErr != nil {
		return nil, nil, f.urlErr
	}
	u := *f.url
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(hdrs)),
		Host:       u.Host,
	}
	req = req.WithContext(context.Background())
	for _, h := range hdrs {
		if strings.EqualFold(h.name, "Host") {
			req.Host = h.value
			continue
		}
		req.Header.Add(h.name, h.value)
	}
	if f.post {
		req.Method = http.MethodPost
		req.ContentLength = int64(len(body))
		req.Body = http.NoBody // a zero ContentLength with another Body would be sent chunked
		if len(body) > 0 {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
	}
	res, err := f.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	if res.StatusCode < 300 {
		_, err = io.Copy(io.Discard, res.Body)
		return res, nil, err
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if b == nil {
		b = []byte{} // an empty body is sent as such, not replaced by nginx's page
	}
	return res, b, nil
}

// setHeader sets name in hdrs, replacing an entry spelled exactly the same.
func setHeader(hdrs []authHeader, name, value string) []authHeader {
	if i := slices.IndexFunc(hdrs, func(h authHeader) bool { return h.name == name }); i >= 0 {
		hdrs[i].value = value
		return hdrs
	}
	return append(hdrs, authHeader{name, value})
}

func hasHeader(hdrs []authHeader, name string) bool {
	return slices.ContainsFunc(hdrs, func(h authHeader) bool { return h.name == name })
}

var (
	_ plugin.Accessor = (*ForwardAuth)(nil)
	_ plugin.Closer   = (*ForwardAuth)(nil)
)
