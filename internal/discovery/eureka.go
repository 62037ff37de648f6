package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// Eureka is discovery.eureka: a service_name is a Eureka application (USER-SERVICE); its UP
// instances (apps/<name>) are the nodes: ipAddr, the secure port when enabled, else the port,
// metadata.weight or the configured weight. Answers are reused for fetch_interval seconds.
type Eureka struct {
	hosts    []registryHost
	interval time.Duration
	weight   int
	client   *http.Client
}

// eurekaConfig is discovery.eureka (apisix/discovery/eureka/schema.lua).
type eurekaConfig struct {
	Host          []string        `json:"host"`
	Prefix        string          `json:"prefix"`
	FetchInterval int             `json:"fetch_interval"`
	Weight        int             `json:"weight"`
	Timeout       registryTimeout `json:"timeout"`
}

// NewEureka reads discovery.eureka.
func NewEureka(raw json.RawMessage) (*Eureka, error) {
	c := eurekaConfig{Prefix: "/eureka/", FetchInterval: 30, Weight: 100}
	c.Timeout.Connect, c.Timeout.Send, c.Timeout.Read = 2000, 2000, 5000
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("discovery.eureka: %w", err)
	}
	if c.FetchInterval < 1 || c.Weight < 0 {
		return nil, errors.New("discovery.eureka: fetch_interval must be at least 1, weight at least 0")
	}
	hosts, err := parseHosts("eureka", c.Host, c.Prefix)
	if err != nil {
		return nil, err
	}
	d := &Eureka{hosts: hosts, interval: time.Duration(c.FetchInterval) * time.Second, weight: c.Weight,
		client: c.Timeout.client()}
	return d, nil
}

// eurekaPort is Eureka's {"$": 8080, "@enabled": "true"} (some servers send true).
type eurekaPort struct {
	Port    json.Number `json:"$"`
	Enabled any         `json:"@enabled"`
}

func (p eurekaPort) enabled() bool { return fmt.Sprint(p.Enabled) == "true" }

// Nodes asks each host in turn for the application's instances.
func (d *Eureka) Nodes(serviceName string, _ []byte) ([]model.Node, time.Duration, error) {
	return firstAnswer(d.hosts, d.interval, func(h registryHost) ([]model.Node, error) { return d.fetch(h, serviceName) })
}

func (d *Eureka) fetch(h registryHost, app string) ([]model.Node, error) {
	req, err := http.NewRequest(http.MethodGet, h.base+"apps/"+url.PathEscape(app), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if h.user != "" {
		req.SetBasicAuth(h.user, h.pass)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil // no such application: no nodes
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("eureka %s: status = %d", req.URL.Host, resp.StatusCode)
	}
	var body struct {
		Application struct {
			Instance []struct {
				IPAddr           string         `json:"ipAddr"`
				Status           string         `json:"status"`
				OverriddenStatus string         `json:"overriddenStatus"`
				Port             eurekaPort     `json:"port"`
				SecurePort       eurekaPort     `json:"securePort"`
				Metadata         map[string]any `json:"metadata"`
			} `json:"instance"`
		} `json:"application"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("eureka %s: %w", req.URL.Host, err)
	}
	var nodes []model.Node
	for _, in := range body.Application.Instance {
		if in.Status != "UP" || in.OverriddenStatus != "" && in.OverriddenStatus != "UP" && in.OverriddenStatus != "UNKNOWN" ||
			net.ParseIP(in.IPAddr) == nil {
			continue
		}
		var p eurekaPort
		switch {
		case in.SecurePort.enabled():
			p = in.SecurePort
		case in.Port.enabled():
			p = in.Port
		default:
			continue // no port open
		}
		port, err := strconv.Atoi(p.Port.String())
		if err != nil {
			continue
		}
		w := d.weight
		if mw, ok := in.Metadata["weight"]; ok {
			if n, err := strconv.Atoi(fmt.Sprint(mw)); err == nil {
				w = n
			}
		}
		nodes = append(nodes, model.Node{Host: in.IPAddr, Port: port, Weight: w})
	}
	return nodes, nil
}
