package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/sluicegw/sluice/plugin"
	"github.com/sluicegw/sluice/plugins/internal/batch"
)

// contentType is the text exposition format's; APISIX sends bare "text/plain", which
// Prometheus reads as the same format.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// render gathers the registry into the text format. Metrics are rendered on every scrape:
// APISIX's refresh_interval cache exists to spare its workers, which Sluice does not need.
func (s *shared) render() ([]byte, error) {
	mfs, err := s.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encode metrics: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// stubStatus renders nginx's stub_status page.
func stubStatus(c plugin.ConnStats) []byte {
	return fmt.Appendf(nil, "Active connections: %d \nserver accepts handled requests\n %d %d %d \nReading: %d Writing: %d Waiting: %d \n",
		c.Active, c.Accepted, c.Handled, c.Total, c.Reading, c.Writing, c.Waiting)
}

var loopbackNet = netip.MustParsePrefix("127.0.0.0/24")

func loopback24(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && loopbackNet.Contains(ip.Unmap())
}

// writePage sends nginx's page for status, as the export server's nginx does.
func writePage(w http.ResponseWriter, status int) {
	line := strconv.Itoa(status) + " " + nginxText(status)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n", line, line)
}

func nginxText(status int) string {
	switch status {
	case http.StatusForbidden:
		return "Forbidden"
	case http.StatusNotFound:
		return "Not Found"
	default:
		return "Internal Server Error"
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// nodeCollector reads the node-level gauges from plugin.Node at scrape time, so they cost
// nothing between scrapes.
type nodeCollector struct {
	node                                             plugin.Node
	conns, requests, etcdReachable, modify, nodeInfo *prometheus.Desc
	batchEntries, upstreamStatus                     *prometheus.Desc
	etcd                                             bool
}

func newNodeCollector(node plugin.Node, prefix string) *nodeCollector {
	// With a standalone YAML config there is no etcd, and APISIX exports no etcd gauges.
	provider := ""
	if string(node.Config("deployment.role")) == `"data_plane"` {
		provider = string(node.Config("deployment.role_data_plane.config_provider"))
	}
	return &nodeCollector{
		node:           node,
		conns:          prometheus.NewDesc(prefix+"nginx_http_current_connections", "Number of HTTP connections", []string{"state"}, nil),
		requests:       prometheus.NewDesc(prefix+"http_requests_total", "The total number of client requests since APISIX started", nil, nil),
		etcdReachable:  prometheus.NewDesc(prefix+"etcd_reachable", "Config server etcd reachable from APISIX, 0 is unreachable", nil, nil),
		modify:         prometheus.NewDesc(prefix+"etcd_modify_indexes", "Etcd modify index for APISIX keys", []string{"key"}, nil),
		nodeInfo:       prometheus.NewDesc(prefix+"node_info", "Info of APISIX node", []string{"hostname", "version"}, nil),
		batchEntries:   prometheus.NewDesc(prefix+"batch_process_entries", "batch process remaining entries", []string{"name", "route_id", "server_addr"}, nil),
		upstreamStatus: prometheus.NewDesc(prefix+"upstream_status", "Upstream status from health check", []string{"name", "ip", "port"}, nil),
		etcd:           len(provider) == 0 || provider == `"etcd"`, // a standalone file (yaml, json): no etcd gauges
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.requests, c.etcdReachable, c.modify, c.nodeInfo, c.batchEntries, c.upstreamStatus} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Status()
	cs := st.Connections
	for _, s := range []struct {
		state string
		v     int64
	}{
		{"active", cs.Active}, {"accepted", cs.Accepted}, {"handled", cs.Handled},
		{"reading", cs.Reading}, {"writing", cs.Writing}, {"waiting", cs.Waiting},
	} {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.v), s.state)
	}
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.GaugeValue, float64(cs.Total))
	if c.etcd {
		reachable := 0.0
		if st.EtcdReachable {
			reachable = 1
		}
		ch <- prometheus.MustNewConstMetric(c.etcdReachable, prometheus.GaugeValue, reachable)
		keys := make([]string, 0, len(st.ModifyIndexes))
		for k := range st.ModifyIndexes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ch <- prometheus.MustNewConstMetric(c.modify, prometheus.GaugeValue, float64(st.ModifyIndexes[k]), k)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.nodeInfo, prometheus.GaugeValue, 1, c.node.Hostname(), c.node.Version())
	seenNode := map[plugin.UpstreamNodeHealth]bool{}
	for _, h := range st.UpstreamHealth {
		up := 0.0
		if h.Healthy {
			up = 1
		}
		k := h
		k.Healthy = false
		if seenNode[k] {
			continue // one series per label set (a node listed twice in one upstream)
		}
		seenNode[k] = true
		ch <- prometheus.MustNewConstMetric(c.upstreamStatus, prometheus.GaugeValue, up, h.Name, h.IP, strconv.Itoa(h.Port))
	}
	// The loggers' batch processors: APISIX sets the gauge only for processors with a name
	// and a route. server_addr is not tracked by the processors yet and reads "".
	seen := map[[2]string]bool{}
	batch.Entries(func(name, routeID string, n int) {
		k := [2]string{name, routeID}
		if name == "" || routeID == "" || seen[k] {
			return // one series per label set; a duplicate would fail the whole scrape
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(c.batchEntries, prometheus.GaugeValue, float64(n), name, routeID, "")
	})
}
