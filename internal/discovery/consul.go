package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// Consul is discovery.consul: a service_name is a Consul service, whose passing instances
// (/v1/health/service/<name>?passing=true) are the nodes, each with the configured weight.
// Answers are reused for fetch_interval seconds (APISIX long-polls; a pull per interval gives
// the same nodes a little later).
type Consul struct {
	servers  []registryHost // base: the server URL with "/"
	token    string
	weight   int
	interval time.Duration
	skip     []string
	fallback *model.Node // default_service: the node when a service has none
	client   *http.Client
}

// consulConfig is discovery.consul (apisix/discovery/consul/schema.lua).
type consulConfig struct {
	consulBase
	SkipServices   []string `json:"skip_services"`
	DefaultService *struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	} `json:"default_service"`
}

// NewConsul reads discovery.consul.
func NewConsul(raw json.RawMessage) (*Consul, error) {
	c := consulConfig{consulBase: defaultConsulBase()}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("discovery.consul: %w", err)
	}
	servers, client, interval, err := c.check("consul")
	if err != nil {
		return nil, err
	}
	d := &Consul{servers: servers, token: c.Token, weight: c.Weight, interval: interval,
		skip: c.SkipServices, client: client}
	if ds := c.DefaultService; ds != nil && ds.Host != "" {
		d.fallback = &model.Node{Host: ds.Host, Port: ds.Port, Weight: c.Weight}
	}
	return d, nil
}

// consulEntry is one item of /v1/health/service/<name>.
type consulEntry struct {
	Node struct {
		Address string `json:"Address"`
	} `json:"Node"`
	Service struct {
		Address string `json:"Address"`
		Port    int    `json:"Port"`
	} `json:"Service"`
}

// Nodes asks each server in turn for the service's passing instances.
func (d *Consul) Nodes(serviceName string, _ []byte) ([]model.Node, time.Duration, error) {
	if slices.Contains(d.skip, serviceName) {
		return nil, 0, fmt.Errorf("consul service %q is in skip_services", serviceName)
	}
	return firstAnswer(d.servers, d.interval, func(h registryHost) ([]model.Node, error) {
		entries, err := d.fetch(h.base, serviceName)
		if err != nil {
			return nil, err
		}
		nodes := make([]model.Node, 0, len(entries))
		for _, e := range entries {
			host := e.Service.Address
			if host == "" {
				host = e.Node.Address // Consul: an empty service address means the node's
			}
			if host == "" || e.Service.Port == 0 {
				continue
			}
			nodes = append(nodes, model.Node{Host: host, Port: e.Service.Port, Weight: d.weight})
		}
		if len(nodes) == 0 && d.fallback != nil {
			nodes = append(nodes, *d.fallback)
		}
		return nodes, nil
	})
}

func (d *Consul) fetch(server, name string) ([]consulEntry, error) {
	req, err := http.NewRequest(http.MethodGet, server+"v1/health/service/"+url.PathEscape(name)+"?passing=true", nil)
	if err != nil {
		return nil, err
	}
	if d.token != "" {
		req.Header.Set("X-Consul-Token", d.token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("consul %s: %s", server, resp.Status)
	}
	var entries []consulEntry
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		return nil, fmt.Errorf("consul %s: %w", server, err)
	}
	return entries, nil
}
