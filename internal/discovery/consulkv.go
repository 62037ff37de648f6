package discovery

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// ConsulKV is discovery.consul_kv: a service_name is the full KV URL of a service's directory
// on one of the configured servers (http://127.0.0.1:8500/v1/kv/upstreams/webpages/); each key
// under it, named "<ip>:<port>", is a node, its JSON value's weight (default the configured
// weight) its weight. Answers are reused for fetch_interval seconds.
type ConsulKV struct {
	servers  []registryHost
	token    string
	weight   int
	interval time.Duration
	client   *http.Client
}

// NewConsulKV reads discovery.consul_kv (apisix/discovery/consul_kv/schema.lua).
func NewConsulKV(raw json.RawMessage) (*ConsulKV, error) {
	c := defaultConsulBase()
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("discovery.consul_kv: %w", err)
	}
	servers, client, interval, err := c.check("consul_kv")
	if err != nil {
		return nil, err
	}
	return &ConsulKV{servers: servers, token: c.Token, weight: c.Weight, interval: interval, client: client}, nil
}

// Nodes lists the keys under the service's KV directory (?recurse).
func (d *ConsulKV) Nodes(serviceName string, _ []byte) ([]model.Node, time.Duration, error) {
	known := false
	for _, s := range d.servers {
		if strings.HasPrefix(serviceName, s.base) {
			known = true
			break
		}
	}
	if !known {
		// the name is a URL: only the configured servers are asked
		return nil, 0, fmt.Errorf("service_name %q is not under a discovery.consul_kv server", serviceName)
	}
	dir := strings.TrimRight(serviceName, "/") + "/"
	req, err := http.NewRequest(http.MethodGet, dir+"?recurse", nil)
	if err != nil {
		return nil, 0, err
	}
	if d.token != "" {
		req.Header.Set("X-Consul-Token", d.token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, d.interval, nil // no keys
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("consul_kv %s: %s", req.URL.Host, resp.Status)
	}
	var kvs []struct {
		Key   string `json:"Key"`
		Value string `json:"Value"` // base64
	}
	if err := json.NewDecoder(resp.Body).Decode(&kvs); err != nil {
		return nil, 0, fmt.Errorf("consul_kv %s: %w", req.URL.Host, err)
	}
	var nodes []model.Node
	for _, kv := range kvs {
		addr := kv.Key[strings.LastIndexByte(kv.Key, '/')+1:]
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue // the directory itself, or a key that is not ip:port
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			continue
		}
		w := d.weight
		if raw, err := base64.StdEncoding.DecodeString(kv.Value); err == nil && len(raw) > 0 {
			var v struct {
				Weight *int `json:"weight"`
			}
			if json.Unmarshal(raw, &v) == nil && v.Weight != nil {
				w = *v.Weight
			}
		}
		nodes = append(nodes, model.Node{Host: host, Port: p, Weight: w})
	}
	return nodes, d.interval, nil
}
