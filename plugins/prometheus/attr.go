package prometheus

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicegw/sluice/plugin"
)

// defaultBuckets are APISIX's http_latency buckets in milliseconds (1 ms to 60 s).
var defaultBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}

const (
	defaultExportURI = "/apisix/prometheus/metrics"
	nginxStatusURI   = "/apisix/nginx_status"
)

// attr is plugin_attr.prometheus from config.yaml.
type attr struct {
	ExportURI          string  `json:"export_uri"`
	MetricPrefix       string  `json:"metric_prefix"`
	EnableExportServer bool    `json:"enable_export_server"`
	RefreshInterval    float64 `json:"refresh_interval"` // accepted, ignored: metrics render live
	ExportAddr         struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"export_addr"`
	DefaultBuckets []float64             `json:"default_buckets"`
	Metrics        map[string]metricAttr `json:"metrics"`
}

// metricAttr is plugin_attr.prometheus.metrics.<name>.
type metricAttr struct {
	// ExtraLabels are [{label_name: "$var"}, ...], appended to the metric's labels in order.
	ExtraLabels []map[string]string `json:"extra_labels"`
	// Expire deletes a series not updated for that many seconds; 0 keeps it forever.
	Expire float64 `json:"expire"`
}

// family indexes the three per-request metrics.
type family int

const (
	famStatus family = iota
	famLatency
	famBandwidth
	numFamilies
)

var familyNames = [numFamilies]string{"http_status", "http_latency", "bandwidth"}

// extraLabel is one compiled extra_labels entry.
type extraLabel struct {
	name string
	v    plugin.Var
}

// parseAttr applies APISIX's defaults under raw (nil: all defaults) and compiles extra labels.
func parseAttr(raw json.RawMessage) (attr, [numFamilies][]extraLabel, error) {
	a := attr{ExportURI: defaultExportURI, MetricPrefix: "apisix_", EnableExportServer: true, RefreshInterval: 15}
	a.ExportAddr.IP, a.ExportAddr.Port = "127.0.0.1", 9091
	var extra [numFamilies][]extraLabel
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &a); err != nil {
			return a, extra, fmt.Errorf("plugin_attr.prometheus: %w", err)
		}
	}
	if a.ExportURI == "" {
		a.ExportURI = defaultExportURI
	}
	if len(a.DefaultBuckets) == 0 {
		a.DefaultBuckets = defaultBuckets
	}
	for f, name := range familyNames {
		m, ok := a.Metrics[name]
		if !ok {
			continue
		}
		if m.Expire < 0 {
			return a, extra, fmt.Errorf("plugin_attr.prometheus.metrics.%s.expire: must be >= 0", name)
		}
		for i, kv := range m.ExtraLabels {
			if len(kv) != 1 {
				return a, extra, fmt.Errorf("plugin_attr.prometheus.metrics.%s.extra_labels[%d]: want one {label: \"$var\"} pair", name, i)
			}
			for label, ref := range kv {
				varName, ok := strings.CutPrefix(ref, "$")
				if !ok || varName == "" {
					return a, extra, fmt.Errorf("plugin_attr.prometheus.metrics.%s.extra_labels[%d]: %q is not a $variable", name, i, ref)
				}
				extra[f] = append(extra[f], extraLabel{name: label, v: plugin.ParseVar(varName)})
			}
		}
	}
	return a, extra, nil
}
