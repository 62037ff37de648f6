package upstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// Health checks (APISIX upstream `checks`, lua-resty-healthcheck): active probes on a timer and
// passive reports from proxied traffic move each node between healthy and unhealthy; Pick
// skips unhealthy nodes while a healthy one is left. Checking starts with the upstream's first
// request, as in APISIX, and stops when the upstream is closed (replaced or deleted).

// checksSpec is the `checks` object with APISIX's schema defaults.
type checksSpec struct {
	Active  *activeSpec  `json:"active"`
	Passive *passiveSpec `json:"passive"`
}

type activeSpec struct {
	Type        string   `json:"type"`
	Timeout     float64  `json:"timeout"`
	Concurrency int      `json:"concurrency"`
	Host        string   `json:"host"`
	Port        int      `json:"port"`
	HTTPPath    string   `json:"http_path"`
	HTTPMethod  string   `json:"http_method"`
	HTTPReqBody string   `json:"http_req_body"`
	HTTPSVerify bool     `json:"https_verify_certificate"`
	ReqHeaders  []string `json:"req_headers"`
	Healthy     struct {
		Interval     float64 `json:"interval"`
		HTTPStatuses []int   `json:"http_statuses"`
		Successes    int     `json:"successes"`
	} `json:"healthy"`
	Unhealthy struct {
		Interval     float64 `json:"interval"`
		HTTPStatuses []int   `json:"http_statuses"`
		HTTPFailures int     `json:"http_failures"`
		TCPFailures  int     `json:"tcp_failures"`
		Timeouts     int     `json:"timeouts"`
	} `json:"unhealthy"`
}

type passiveSpec struct {
	Type    string `json:"type"`
	Healthy struct {
		HTTPStatuses []int `json:"http_statuses"`
		Successes    int   `json:"successes"`
	} `json:"healthy"`
	Unhealthy struct {
		HTTPStatuses []int `json:"http_statuses"`
		HTTPFailures int   `json:"http_failures"`
		TCPFailures  int   `json:"tcp_failures"`
		Timeouts     int   `json:"timeouts"`
	} `json:"unhealthy"`
}

// parseChecks decodes raw over APISIX's defaults; nil when there is no active check (the
// schema requires one for any checks).
func parseChecks(raw json.RawMessage) (*checksSpec, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var probe struct {
		Active, Passive json.RawMessage
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("checks: %w", err)
	}
	if len(probe.Active) == 0 || string(probe.Active) == "null" {
		return nil, nil
	}
	a := &activeSpec{Type: "http", Timeout: 1, Concurrency: 10, HTTPPath: "/", HTTPMethod: "GET", HTTPSVerify: true}
	a.Healthy.Interval, a.Healthy.HTTPStatuses, a.Healthy.Successes = 1, []int{200, 302}, 2
	a.Unhealthy.Interval, a.Unhealthy.HTTPStatuses = 1, []int{429, 404, 500, 501, 502, 503, 504, 505}
	a.Unhealthy.HTTPFailures, a.Unhealthy.TCPFailures, a.Unhealthy.Timeouts = 5, 2, 3
	if err := json.Unmarshal(probe.Active, a); err != nil {
		return nil, fmt.Errorf("checks.active: %w", err)
	}
	c := &checksSpec{Active: a}
	if len(probe.Passive) > 0 && string(probe.Passive) != "null" {
		p := &passiveSpec{Type: "http"}
		p.Healthy.HTTPStatuses = []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}
		p.Healthy.Successes = 5
		p.Unhealthy.HTTPStatuses = []int{429, 500, 503}
		p.Unhealthy.TCPFailures, p.Unhealthy.Timeouts, p.Unhealthy.HTTPFailures = 2, 7, 5
		if err := json.Unmarshal(probe.Passive, p); err != nil {
			return nil, fmt.Errorf("checks.passive: %w", err)
		}
		c.Passive = p
	}
	return c, nil
}

// outcome is one check's or one proxied try's result for a node.
type outcome uint8

const (
	outSuccess outcome = iota
	outHTTPFailure
	outTCPFailure
	outTimeout
	outNone // a status in neither list: counts for nothing
)

// thresholds are the counts that flip a node: successes to healthy, each failure kind to
// unhealthy (0: that kind never does).
type thresholds struct {
	successes, httpFailures, tcpFailures, timeouts int
}

// nodeHealth is a node's checker state. down mirrors !healthy for Pick without the lock.
type nodeHealth struct {
	mu                                   sync.Mutex
	unhealthy                            bool
	success, httpFail, tcpFail, timeFail int
	next                                 time.Time // the next active check
	// dirty: unhealthy or a counter is not 0; a success then changes nothing, and the
	// passive check skips the lock for it (every proxied request reports).
	dirty atomic.Bool
}

// record applies one outcome with th. A success
// clears the failure counters and a failure the success counter, as lua-resty-healthcheck
// does; counters restart on a flip.
func (n *Node) record(o outcome, th thresholds) {
	h := &n.health
	h.mu.Lock()
	defer func() {
		h.dirty.Store(h.unhealthy || h.success+h.httpFail+h.tcpFail+h.timeFail > 0)
		h.mu.Unlock()
	}()
	switch o {
	case outSuccess:
		h.httpFail, h.tcpFail, h.timeFail = 0, 0, 0
		if !h.unhealthy {
			h.success = 0
			return
		}
		h.success++
		if th.successes > 0 && h.success >= th.successes {
			h.unhealthy, h.success = false, 0
			n.down.Store(false)
		}
		return
	case outNone:
		return
	}
	h.success = 0
	if h.unhealthy {
		return
	}
	var c, limit *int
	switch o {
	case outHTTPFailure:
		c, limit = &h.httpFail, &th.httpFailures
	case outTCPFailure:
		c, limit = &h.tcpFail, &th.tcpFailures
	default:
		c, limit = &h.timeFail, &th.timeouts
	}
	*c++
	if *limit > 0 && *c >= *limit {
		h.unhealthy, h.httpFail, h.tcpFail, h.timeFail = true, 0, 0, 0
		n.down.Store(true)
	}
}

// NodeHealth is a node's state as the control API and metrics show it.
type NodeHealth struct {
	Host     string // the node's host (ip)
	Hostname string // the checker's host: active.host, else Host
	Port     int    // the checker's port: active.port, else the node's
	Status   string // healthy, unhealthy, mostly_healthy, mostly_unhealthy
	// Counters since the last flip.
	Success, HTTPFailure, TCPFailure, TimeoutFailure int
}

// Healthy reports whether the node takes traffic: healthy or mostly_healthy.
func (h NodeHealth) Healthy() bool { return h.Status == "healthy" || h.Status == "mostly_healthy" }

func (n *Node) healthView() NodeHealth {
	h := &n.health
	h.mu.Lock()
	defer h.mu.Unlock()
	v := NodeHealth{Host: n.Host, Hostname: n.Host, Port: n.Port, Success: h.success, HTTPFailure: h.httpFail,
		TCPFailure: h.tcpFail, TimeoutFailure: h.timeFail}
	if c := n.up.checks; c != nil {
		// the checker's target, as APISIX keys it: active.port and active.host when set
		if c.Active.Port > 0 {
			v.Port = c.Active.Port
		}
		if c.Active.Host != "" {
			v.Hostname = c.Active.Host
		}
	}
	switch {
	case h.unhealthy && h.success > 0:
		v.Status = "mostly_unhealthy"
	case h.unhealthy:
		v.Status = "unhealthy"
	case h.httpFail+h.tcpFail+h.timeFail > 0:
		v.Status = "mostly_healthy"
	default:
		v.Status = "healthy"
	}
	return v
}

// Health is an upstream's checker as the control API lists it: Name is the etcd key of the
// upstream's owner (/apisix/upstreams/1, or /apisix/routes/1 for an inline upstream).
type Health struct {
	Name  string
	Type  string // the active check's type
	Nodes []NodeHealth
}

// CheckType is the type of spec's health check (active's, else passive's), "" without checks.
func CheckType(spec *model.Upstream) string {
	if spec == nil || len(spec.Checks) == 0 {
		return ""
	}
	c, err := parseChecks(spec.Checks)
	if err != nil || c == nil {
		return ""
	}
	return c.Active.Type
}

// Health returns the checker's view, and false when the upstream has no checks or its
// checking has not started (no request yet, as in APISIX).
func (u *Upstream) Health() (Health, bool) {
	if u.disc != nil {
		if cur := u.disc.cur.Load(); cur != nil {
			return cur.Health()
		}
		return Health{}, false
	}
	if u.checks == nil || !u.checking.Load() {
		return Health{}, false
	}
	h := Health{Name: strings.TrimSuffix(u.Key, "#upstream"), Type: u.checks.Active.Type}
	for _, n := range u.nodes {
		h.Nodes = append(h.Nodes, n.healthView())
	}
	return h, true
}

// startChecks starts the active checker once (the upstream's first request).
func (u *Upstream) startChecks() {
	u.checkOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		u.stopChecks = cancel
		if u.closed.Load() {
			cancel()
			return
		}
		u.checking.Store(true)
		go u.runActive(ctx)
	})
}

// runActive probes each node every healthy.interval while it is healthy and every
// unhealthy.interval while it is not, at most concurrency at a time.
func (u *Upstream) runActive(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("panic recovered", "goroutine", "health check", "upstream", u.Key, "panic", r)
		}
	}()
	a := u.checks.Active
	th := thresholds{a.Healthy.Successes, a.Unhealthy.HTTPFailures, a.Unhealthy.TCPFailures, a.Unhealthy.Timeouts}
	p := &prober{a: a, spec: u.Spec}
	sem := make(chan struct{}, max(a.Concurrency, 1))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		now := time.Now()
		for _, n := range u.nodes {
			h := &n.health
			h.mu.Lock()
			due := !now.Before(h.next)
			if due {
				iv := a.Healthy.Interval
				if h.unhealthy {
					iv = a.Unhealthy.Interval
				}
				h.next = now.Add(time.Duration(iv * float64(time.Second)))
			}
			h.mu.Unlock()
			if !due {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(n *Node) {
				defer func() {
					if r := recover(); r != nil {
						slog.Error("panic recovered", "goroutine", "health probe", "node", n.Addr, "panic", r)
					}
					<-sem
					wg.Done()
				}()
				n.record(p.probe(ctx, n), th)
			}(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// prober runs one active check against a node.
type prober struct {
	a    *activeSpec
	spec *model.Upstream
}

// probeTimeout is active.timeout; the schema has no minimum, and a probe must end.
func (a *activeSpec) probeTimeout() time.Duration {
	if a.Timeout <= 0 {
		return time.Second
	}
	return time.Duration(a.Timeout * float64(time.Second))
}

// probe checks n: a TCP connect for type tcp, else an HTTP(S) request to http_path, whose
// status is looked up in the healthy and unhealthy lists. The target is active.host (TLS server
// name and Host; the node's host without it) at active.port (the node's without it); as in
// APISIX's create_checker, pass_host rewrite sends upstream_host as the Host header.
func (p *prober) probe(ctx context.Context, n *Node) outcome {
	a := p.a
	port := n.Port
	if a.Port > 0 {
		port = a.Port
	}
	addr := net.JoinHostPort(n.Host, strconv.Itoa(port))
	timeout := a.probeTimeout()
	if a.Type == "tcp" {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return failureOf(err)
		}
		c.Close()
		return outSuccess
	}
	hostname := n.Host
	if a.Host != "" {
		hostname = a.Host
	}
	scheme := "http"
	tr := &http.Transport{DisableKeepAlives: true}
	if a.Type == "https" {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{ServerName: hostname, InsecureSkipVerify: !a.HTTPSVerify} //nolint:gosec // the user's https_verify_certificate
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// a redirect is the answer: 302 is healthy by default
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var body io.Reader
	if a.HTTPReqBody != "" {
		body = strings.NewReader(a.HTTPReqBody)
	}
	req, err := http.NewRequestWithContext(ctx, a.HTTPMethod, scheme+"://"+addr+a.HTTPPath, body)
	if err != nil {
		return outHTTPFailure
	}
	req.Host = hostname
	if p.spec.PassHost == "rewrite" && p.spec.UpstreamHost != "" {
		req.Host = p.spec.UpstreamHost
	}
	for _, h := range a.ReqHeaders {
		if k, v, ok := strings.Cut(h, ":"); ok {
			if strings.EqualFold(strings.TrimSpace(k), "Host") {
				req.Host = strings.TrimSpace(v)
				continue
			}
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	req.Header.Set("User-Agent", "sluice/healthcheck")
	resp, err := client.Do(req)
	if err != nil {
		return failureOf(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck
	resp.Body.Close()
	return classify(resp.StatusCode, a.Healthy.HTTPStatuses, a.Unhealthy.HTTPStatuses)
}

func classify(status int, healthy, unhealthy []int) outcome {
	switch {
	case slices.Contains(healthy, status):
		return outSuccess
	case slices.Contains(unhealthy, status):
		return outHTTPFailure
	}
	return outNone
}

func failureOf(err error) outcome {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return outTimeout
	}
	return outTCPFailure
}

// ReportPassive records a proxied try on n for the upstream's passive check: the response
// status, or 0 with the try's error (a connect failure or a timeout). No-op without one. A
// failed try counts as a TCP failure or a timeout (APISIX counts its 502/504, which the
// default unhealthy statuses leave out).
func (n *Node) ReportPassive(status int, err error) {
	if c := n.up.checks; c != nil && c.Passive != nil {
		n.reportPassive(c.Passive, status, err)
	}
}

func (n *Node) reportPassive(ps *passiveSpec, status int, err error) {
	o := outSuccess
	if err != nil {
		o = failureOf(err)
		if ue := (*Error)(nil); errors.As(err, &ue) && ue.Timeout {
			o = outTimeout
		}
	} else {
		o = classify(status, ps.Healthy.HTTPStatuses, ps.Unhealthy.HTTPStatuses)
	}
	if o == outNone || o == outSuccess && !n.health.dirty.Load() {
		return // nothing to count: a success on a healthy node with clean counters
	}
	n.record(o, thresholds{ps.Healthy.Successes, ps.Unhealthy.HTTPFailures, ps.Unhealthy.TCPFailures, ps.Unhealthy.Timeouts})
}
