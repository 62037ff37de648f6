package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/discovery"
	"github.com/sluicegw/sluice/internal/proxy"
	"github.com/sluicegw/sluice/internal/router"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/store/standalone"
	"github.com/sluicegw/sluice/internal/stream"
	sltls "github.com/sluicegw/sluice/internal/tls"
	"github.com/sluicegw/sluice/internal/upstream"
	"github.com/sluicegw/sluice/plugin"
)

// defaultShutdownTimeout is nginx_config.worker_shutdown_timeout's default in APISIX.
const defaultShutdownTimeout = 240 * time.Second

// startDataPlane binds the proxy listeners, then starts the snapshot compiler they serve
// from (it follows the store until ctx ends).
func (n *Node) startDataPlane(ctx context.Context) error {
	cfg := n.cfg
	httpConf, _ := cfg.NginxConfig["http"].(map[string]any)
	pool, err := upstreamPool(httpConf["upstream"])
	if err != nil {
		return fmt.Errorf("nginx_config.http.upstream: %w", err)
	}
	registries, err := n.discoveries()
	if err != nil {
		return err
	}
	if err := tlsOptions(cfg).Validate(); err != nil {
		return fmt.Errorf("apisix.ssl.ssl_protocols: %w", err)
	}
	n.view.syncPlugins(n.plugins.Enabled(), 0)
	if _, file := n.store.(*standalone.Store); !file {
		go n.view.probeEtcd(ctx, n.store, cfg.Deployment.Etcd.Prefix+"/routes")
	}
	n.snapshots = snapshot.New(n.store, snapshot.Options{
		UpstreamPool: pool,
		Discovery:    registries,
		Prefix:       cfg.Deployment.Etcd.Prefix,
		RouterMode:   router.Mode(cfg.Apisix.Router.HTTP),
		Logger:       n.log,
		// A plugin runs when its package implements New (and its node-level Start, if any,
		// succeeded); a route naming one that does not fails closed. Plugins left out of
		// the node's `plugins:` list are ignored, as APISIX does.
		Supported: func(name string) bool {
			d, ok := plugin.Lookup(name)
			return ok && d.New != nil && n.view.runnable(name)
		},
		Enabled:       n.plugins.IsEnabled,
		StreamEnabled: streamPluginSet(cfg.StreamPlugins),
		Node:          n.view,
		Shared:        n.view.shared,
		Decrypt:       n.keyring.DecryptObject,
		TLS:           tlsOptions(cfg),
		// longer than a request normally takes; a longer one (a slow stream) may see its
		// plugin instances closed under it, which they tolerate
		CloseGrace: 5 * time.Second,
	})
	n.view.snaps.Store(n.snapshots)
	if n.access, err = n.openAccessLog(ctx, httpConf); err != nil {
		return err
	}
	maxBody, err := byteSize(httpConf["client_max_body_size"])
	if err != nil {
		return fmt.Errorf("nginx_config.http.client_max_body_size: %w", err)
	}
	recursive, err := onOff(httpConf["real_ip_recursive"])
	if err != nil {
		return fmt.Errorf("nginx_config.http.real_ip_recursive: %w", err)
	}
	pp, err := cfg.ProxyProtocol()
	if err != nil {
		return err
	}
	o := proxy.Options{
		PPAddr:                  pp.HTTPAddr,
		PPTLSAddr:               pp.HTTPSAddr,
		AccessLog:               n.access,
		MaxBodyBytes:            maxBody,
		Addrs:                   cfg.ProxyAddrs(),
		TLSAddrs:                cfg.SSLAddrs(),
		HTTP3Addrs:              cfg.HTTP3Addrs(),
		FallbackSNI:             stringOf(cfg.Apisix.SSL.Extra["fallback_sni"]),
		ServerName:              "sluice/" + Version,
		Logger:                  n.log.With("component", "proxy"),
		Snapshots:               n.snapshots,
		DeleteURITailSlash:      cfg.Apisix.DeleteURITailSlash,
		NormalizeURILikeServlet: cfg.Apisix.NormalizeURILikeServlet,
		MatchURIEncodedSlash:    extraBool(cfg.Apisix.Extra, "match_uri_encoded_slash"),
		RealIPFrom:              stringList(httpConf["real_ip_from"]),
		RealIPHeader:            stringOf(httpConf["real_ip_header"]),
		RealIPRecursive:         recursive,
		ClientHeaderTimeout:     duration(httpConf["client_header_timeout"]),
		KeepaliveTimeout:        duration(httpConf["keepalive_timeout"]),
		ClientBodyTimeout:       duration(httpConf["client_body_timeout"]),
		SendTimeout:             duration(httpConf["send_timeout"]),
	}
	n.shutdownTimeout = duration(cfg.NginxConfig["worker_shutdown_timeout"])
	if n.shutdownTimeout <= 0 {
		n.shutdownTimeout = defaultShutdownTimeout
	}
	if n.proxy, err = proxy.Listen(o); err != nil {
		return err
	}
	n.view.proxy.Store(n.proxy)
	for _, a := range n.proxy.Addrs() {
		n.log.Info("proxy listening", "addr", a.String())
	}
	if err := n.listenStream(); err != nil {
		return err
	}
	go func() {
		defer func() {
			if r := recover(); r != nil {
				n.log.Error("snapshot compiler panic", "panic", r)
			}
		}()
		if err := n.snapshots.Run(ctx); err != nil {
			n.log.Error("snapshot compiler stopped", "error", err)
		}
	}()
	return nil
}

// serveProxy accepts once the first snapshot is live (connections wait in the listen
// backlog until then, so nothing is answered from an empty configuration), or after 30 s.
func (n *Node) serveProxy(ctx context.Context) error {
	select {
	case <-n.snapshots.Ready():
	case <-ctx.Done():
		return nil
	case <-time.After(30 * time.Second):
		n.log.Warn("proxy: serving before the first configuration snapshot is built")
	}
	return n.proxy.Serve()
}

// listenStream binds apisix.stream_proxy's listeners when proxy_mode has stream.
func (n *Node) listenStream() error {
	tcp, udp, err := n.cfg.StreamProxy()
	if err != nil {
		return err
	}
	pp, err := n.cfg.ProxyProtocol()
	if err != nil {
		return err
	}
	if n.cfg.StreamMode() && len(tcp)+len(udp) == 0 {
		n.log.Warn("proxy_mode has stream but apisix.stream_proxy lists no tcp or udp address: no stream listener")
	}
	if len(tcp)+len(udp) == 0 {
		return nil
	}
	o := stream.Options{
		PPToUpstream: pp.TCPToUpstream,
		Routes:       func() *stream.Table { return n.snapshots.Load().Stream },
		Certs:        func() *sltls.Store { return n.snapshots.Load().TLS },
		Logger:       n.log.With("component", "stream"),
	}
	for _, l := range tcp {
		o.TCP = append(o.TCP, stream.Listen{Addr: l.Addr, TLS: l.TLS, ProxyProtocol: l.ProxyProtocol || pp.TCP})
	}
	for _, l := range udp {
		o.UDP = append(o.UDP, l.Addr)
	}
	if n.stream, err = stream.New(o); err != nil {
		return err
	}
	for _, a := range n.stream.Addrs() {
		n.log.Info("stream proxy listening", "network", a.Network(), "addr", a.String())
	}
	return nil
}

// serveStream starts the stream listeners once the first snapshot is live (or after 30 s).
func (n *Node) serveStream(ctx context.Context) {
	select {
	case <-n.snapshots.Ready():
	case <-ctx.Done():
		return
	case <-time.After(30 * time.Second):
	}
	n.stream.Serve()
}

// defaultStreamPlugins is APISIX's default stream_plugins list.
var defaultStreamPlugins = []string{"ip-restriction", "limit-conn", "mqtt-proxy", "syslog", "traffic-split"}

// streamPluginSet reports the plugins stream routes run: config.yaml's stream_plugins, or
// APISIX's default list.
func streamPluginSet(list []string) func(string) bool {
	if list == nil {
		list = defaultStreamPlugins
	}
	set := make(map[string]bool, len(list))
	for _, name := range list {
		set[name] = true
	}
	return func(name string) bool { return set[name] }
}

// stopProxy drains the proxy for up to worker_shutdown_timeout.
func (n *Node) stopProxy() {
	ctx, cancel := context.WithTimeout(context.Background(), n.shutdownTimeout)
	defer cancel()
	if err := n.proxy.Shutdown(ctx); err != nil {
		n.log.Warn("proxy shutdown: in-flight requests cut at worker_shutdown_timeout", "error", err)
	}
}

func extraBool(m map[string]any, key string) bool {
	b, _ := m[key].(bool)
	return b
}

// onOff reads an nginx flag: "on" or "off" (YAML true/false too); absent is off.
func onOff(v any) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "on":
			return true, nil
		case "off":
			return false, nil
		}
	}
	return false, fmt.Errorf("%#v is not on or off", v)
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

func stringList(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, strings.TrimSpace(stringOf(e)))
	}
	return out
}

// discoveries builds the service registries of config.yaml `discovery:`. A registry Sluice does
// not implement is logged; upstreams naming it are answered 503, as an unconfigured one is.
func (n *Node) discoveries() (map[string]upstream.Resolver, error) {
	raw := n.view.Config("discovery")
	if raw == nil {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	out := map[string]upstream.Resolver{}
	for typ, conf := range m {
		switch typ {
		case "dns":
			d, err := discovery.NewDNS(conf)
			if err != nil {
				return nil, err
			}
			out[typ] = d
		case "consul":
			c, err := discovery.NewConsul(conf)
			if err != nil {
				return nil, err
			}
			out[typ] = c
		case "nacos":
			c, err := discovery.NewNacos(conf)
			if err != nil {
				return nil, err
			}
			out[typ] = c
		case "eureka":
			c, err := discovery.NewEureka(conf)
			if err != nil {
				return nil, err
			}
			out[typ] = c
		case "consul_kv":
			c, err := discovery.NewConsulKV(conf)
			if err != nil {
				return nil, err
			}
			out[typ] = c
		case "kubernetes":
			c, err := discovery.NewKubernetes(conf)
			if err != nil {
				return nil, err
			}
			out[typ] = c
		default:
			n.log.Warn("service discovery type not supported: upstreams using it answer 503", "discovery_type", typ)
		}
	}
	return out, nil
}

// upstreamPool reads nginx_config.http.upstream, the keepalive pool of upstreams without
// keepalive_pool: keepalive (idle connections per node), keepalive_requests,
// keepalive_timeout. Absent keys keep APISIX's defaults (320, 1000, 60s).
func upstreamPool(v any) (upstream.PoolDefaults, error) {
	var d upstream.PoolDefaults
	if v == nil {
		return d, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return d, fmt.Errorf("%#v is not a map", v)
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"keepalive", &d.Size}, {"keepalive_requests", &d.Requests}} {
		v, ok := m[f.key]
		if !ok || v == nil {
			continue
		}
		n, ok := positiveInt(v)
		if !ok {
			return d, fmt.Errorf("%s: %#v is not a positive number", f.key, v)
		}
		*f.dst = n
	}
	if t, ok := m["keepalive_timeout"]; ok && t != nil {
		if d.Idle = duration(t); d.Idle <= 0 {
			return d, fmt.Errorf("keepalive_timeout: %#v is not a time (60s, 1m, or seconds)", t)
		}
	}
	return d, nil
}

// positiveInt reads a count > 0: a YAML number, or a string of digits (an ${{ENV}} value).
func positiveInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, x > 0
	case float64:
		return int(x), x > 0 && x == math.Trunc(x) && x <= math.MaxInt32
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil && n > 0
	}
	return 0, false
}

// byteSize reads an nginx size: bytes, or a number with k, m or g (any case); absent is 0.
func byteSize(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		if x >= 0 {
			return int64(x), nil
		}
	case float64:
		if x >= 0 && x == math.Trunc(x) && x < math.MaxInt64 {
			return int64(x), nil
		}
	case string:
		num, shift := strings.TrimSpace(x), 0
		if num != "" {
			switch num[len(num)-1] {
			case 'k', 'K':
				num, shift = num[:len(num)-1], 10
			case 'm', 'M':
				num, shift = num[:len(num)-1], 20
			case 'g', 'G':
				num, shift = num[:len(num)-1], 30
			}
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err == nil && n >= 0 && n <= math.MaxInt64>>shift {
			return n << shift, nil
		}
	}
	return 0, fmt.Errorf("%#v is not a size (bytes, or a number with k, m or g)", v)
}

// duration reads an nginx time ("240s", "1m", "500ms", a bare number of seconds).
func duration(v any) time.Duration {
	switch x := v.(type) {
	case int:
		return time.Duration(x) * time.Second
	case float64:
		return time.Duration(x * float64(time.Second))
	case string:
		x = strings.TrimSpace(x)
		if secs, err := strconv.ParseFloat(x, 64); err == nil {
			return time.Duration(secs * float64(time.Second))
		}
		if d, err := time.ParseDuration(x); err == nil {
			return d
		}
	}
	return 0
}

// tlsOptions are the node-wide settings of the HTTPS listeners' certificates (apisix.ssl).
func tlsOptions(cfg *conf.Config) sltls.Options {
	o := sltls.Options{NextProtos: []string{"http/1.1"}}
	if cfg.Apisix.EnableHTTP2 {
		o.NextProtos = []string{"h2", "http/1.1"}
	}
	if p := stringOf(cfg.Apisix.SSL.Extra["ssl_protocols"]); p != "" {
		o.Protocols = strings.Fields(p)
	}
	return o
}
