package prometheus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sluicegw/sluice/plugin"
)

// shared is the node's prometheus state (Definition.Start): a private registry, the
// per-request metric vectors, the bookkeeping of which series are still in use, the expire
// sweeper and the export server.
type shared struct {
	node   plugin.Node
	log    *slog.Logger
	attr   attr
	extra  [numFamilies][]extraLabel
	expire [numFamilies]int64 // seconds, 0 = never

	reg       *prometheus.Registry
	status    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	bandwidth *prometheus.CounterVec
	// streamConns counts stream (L4) connections per stream route (stream_connection_total).
	streamConns *prometheus.CounterVec

	mu        sync.Mutex
	parts     [numFamilies]map[string]*part
	instances map[*instance]struct{}
	parents   map[string]int                // live instances per Env.Parent
	orphans   map[string]map[*part]struct{} // parts no instance holds, kept while their parent lives

	srv       *http.Server
	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

func start(node plugin.Node) (plugin.Shared, error) {
	s, err := newShared(node)
	if err != nil {
		return nil, err
	}
	if s.attr.EnableExportServer {
		if err := s.serve(); err != nil {
			return nil, err
		}
	}
	s.startSweeper()
	return s, nil
}

func newShared(node plugin.Node) (*shared, error) {
	a, extra, err := parseAttr(node.Config("plugin_attr.prometheus"))
	if err != nil {
		return nil, err
	}
	log := node.Logger()
	if log == nil {
		log = slog.Default()
	}
	s := &shared{
		node: node, log: log.With("plugin", "prometheus"), attr: a, extra: extra,
		reg:       prometheus.NewRegistry(),
		instances: map[*instance]struct{}{},
		parents:   map[string]int{},
		orphans:   map[string]map[*part]struct{}{},
		stop:      make(chan struct{}),
	}
	for f := range s.parts {
		s.parts[f] = map[string]*part{}
		if m, ok := a.Metrics[familyNames[f]]; ok {
			s.expire[f] = int64(m.Expire)
		}
	}
	withExtra := func(f family, labels ...string) []string {
		for _, e := range extra[f] {
			labels = append(labels, e.name)
		}
		return labels
	}
	p := a.MetricPrefix
	s.status = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "http_status", Help: "HTTP status codes per service in APISIX",
	}, withExtra(famStatus, "code", "route", "matched_uri", "matched_host", "service", "consumer", "node",
		"request_type", "request_llm_model", "llm_model", "response_source"))
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: p + "http_latency", Help: "HTTP request latency in milliseconds per service in APISIX",
		Buckets: a.DefaultBuckets,
	}, withExtra(famLatency, "type", "route", "service", "consumer", "node",
		"request_type", "request_llm_model", "llm_model"))
	s.bandwidth = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "bandwidth", Help: "Total bandwidth in bytes consumed per service in APISIX",
	}, withExtra(famBandwidth, "type", "route", "service", "consumer", "node",
		"request_type", "request_llm_model", "llm_model"))
	s.streamConns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "stream_connection_total", Help: "Total number of connections handled per Stream Route in APISIX",
	}, []string{"route"})
	for _, c := range []prometheus.Collector{
		s.status, s.latency, s.bandwidth, s.streamConns, newNodeCollector(node, p),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("prometheus: register collector: %w", err)
		}
	}
	return s, nil
}

// Close stops the export server and the sweeper. Instances built with s may still record;
// their series just are no longer exported.
func (s *shared) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		if s.srv != nil {
			ctx, cancel := contextWithTimeout(5 * time.Second)
			if err := s.srv.Shutdown(ctx); err != nil {
				s.closeErr = fmt.Errorf("prometheus: stop export server: %w", err)
			}
			cancel()
		}
		s.done.Wait()
	})
	return s.closeErr
}

// register counts a new instance of parent.
func (s *shared) register(in *instance) {
	s.mu.Lock()
	s.instances[in] = struct{}{}
	s.parents[in.parent]++
	s.mu.Unlock()
}

// unregister drops an instance: every part only it held is deleted unless another live
// instance of the same parent (the route's next config version) may still record into it.
func (s *shared) unregister(in *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.instances[in]; !ok {
		return
	}
	delete(s.instances, in)
	if s.parents[in.parent]--; s.parents[in.parent] <= 0 {
		delete(s.parents, in.parent)
	}
	in.cache.all(func(_ string, e *entry) {
		if !e.dead.Load() {
			s.releaseEntry(e)
		}
	})
	in.cache.replace(nil)
	if s.parents[in.parent] == 0 {
		for p := range s.orphans[in.parent] {
			if p.refs == 0 && !p.dead.Load() {
				s.deletePart(p)
			}
		}
		delete(s.orphans, in.parent)
	}
}

// acquire returns the live part for values, creating its series. Caller holds s.mu.
func (s *shared) acquire(f family, values []string, owner string) *part {
	key := joinKey(values)
	p := s.parts[f][key]
	if p == nil {
		p = &part{fam: f, key: key, values: values}
		switch f {
		case famStatus:
			p.count = s.status.WithLabelValues(values...)
		case famLatency:
			p.obs[0] = s.latency.WithLabelValues(withType("request", values)...)
			p.obs[1] = s.latency.WithLabelValues(withType("apisix", values)...)
		case famBandwidth:
			p.bw[0] = s.bandwidth.WithLabelValues(withType("ingress", values)...)
			p.bw[1] = s.bandwidth.WithLabelValues(withType("egress", values)...)
		}
		p.last.Store(time.Now().Unix())
		s.parts[f][key] = p
	}
	if p.refs == 0 && p.owner != "" {
		delete(s.orphans[p.owner], p)
	}
	p.refs++
	p.owner = owner
	return p
}

// releaseEntry drops an entry's references. Caller holds s.mu.
func (s *shared) releaseEntry(e *entry) {
	for _, p := range e.parts {
		if p.dead.Load() {
			continue
		}
		if p.refs--; p.refs > 0 {
			continue
		}
		if s.parents[p.owner] > 0 {
			o := s.orphans[p.owner]
			if o == nil {
				o = map[*part]struct{}{}
				s.orphans[p.owner] = o
			}
			o[p] = struct{}{}
			continue
		}
		s.deletePart(p)
	}
}

// deletePart removes a part's series from its vector. Caller holds s.mu.
func (s *shared) deletePart(p *part) {
	p.dead.Store(true)
	delete(s.parts[p.fam], p.key)
	if o := s.orphans[p.owner]; o != nil {
		delete(o, p)
	}
	switch p.fam {
	case famStatus:
		s.status.DeleteLabelValues(p.values...)
	case famLatency:
		for _, t := range []string{"request", "upstream", "apisix"} {
			s.latency.DeleteLabelValues(withType(t, p.values)...)
		}
	case famBandwidth:
		for _, t := range []string{"ingress", "egress"} {
			s.bandwidth.DeleteLabelValues(withType(t, p.values)...)
		}
	}
}

// startSweeper runs the expire sweep when any metric has an expire.
func (s *shared) startSweeper() {
	var shortest int64
	for _, e := range s.expire {
		if e > 0 && (shortest == 0 || e < shortest) {
			shortest = e
		}
	}
	if shortest == 0 {
		return
	}
	// A tenth of the shortest expire keeps deletion within ~10% late, at most one sweep a second.
	every := min(max(time.Duration(shortest)*time.Second/10, time.Second), time.Minute)
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("expire sweeper panicked", "panic", r)
			}
		}()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				s.sweep(now.Unix())
			}
		}
	}()
}

// sweep deletes the series not updated for their metric's expire and drops the cache entries
// that pointed at them.
func (s *shared) sweep(now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	died := false
	for f, exp := range s.expire {
		if exp <= 0 {
			continue
		}
		for _, p := range s.parts[f] {
			if now-p.last.Load() > exp {
				s.deletePart(p)
				died = true
			}
		}
	}
	if !died {
		return
	}
	for in := range s.instances {
		kept := map[string]*entry{}
		in.cache.all(func(k string, e *entry) {
			if e.dead.Load() {
				return
			}
			for _, p := range e.parts {
				if p.dead.Load() {
					e.dead.Store(true)
					s.releaseEntry(e)
					return
				}
			}
			kept[k] = e
		})
		in.cache.replace(kept)
	}
}

// serve starts the export server on export_addr: GET export_uri renders the metrics,
// /apisix/nginx_status answers stub_status to loopback peers, anything else is 404.
func (s *shared) serve() error {
	addr := net.JoinHostPort(s.attr.ExportAddr.IP, strconv.Itoa(s.attr.ExportAddr.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("prometheus: export server: %w", err)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("export server panicked", "panic", r)
			}
		}()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("export server stopped", "addr", addr, "error", err)
		}
	}()
	s.log.Info("export server listening", "addr", addr, "uri", s.attr.ExportURI)
	return nil
}

func (s *shared) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == s.attr.ExportURI && r.Method == http.MethodGet:
		body, err := s.render()
		if err != nil {
			s.log.Error("render metrics", "error", err)
			writePage(w, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	case r.URL.Path == nginxStatusURI:
		// nginx.conf: allow 127.0.0.0/24; deny all;
		if !loopback24(r.RemoteAddr) {
			writePage(w, http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(stubStatus(s.node.Status().Connections))
	default:
		writePage(w, http.StatusNotFound)
	}
}

// APIs exposes the metrics to public-api only when the export server is off, as APISIX's
// prometheus api() does.
func (s *shared) APIs() []plugin.API {
	if s.attr.EnableExportServer {
		return nil
	}
	return []plugin.API{{URI: s.attr.ExportURI, Methods: []string{http.MethodGet}, Serve: s.serveAPI}}
}

func (s *shared) serveAPI(c plugin.Ctx) {
	body, err := s.render()
	if err != nil {
		s.log.Error("render metrics", "error", err)
		c.Exit(http.StatusInternalServerError, []byte(`{"message":"An unexpected error occurred"}`+"\n"))
		return
	}
	c.SetRespHeader("Content-Type", contentType)
	c.Exit(http.StatusOK, body)
}

var (
	_ plugin.Shared      = (*shared)(nil)
	_ plugin.APIProvider = (*shared)(nil)
)
