package discovery

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// registryHost is one configured server of an HTTP registry (nacos, eureka): its base URL with
// the path prefix, ending in "/", and the credentials written in the URL (http://user:pass@h).
type registryHost struct {
	base, user, pass string
}

// parseHosts reads a registry's host list; kind names it in errors, which never repeat a value
// (it may hold a password).
func parseHosts(kind string, hosts []string, prefix string) ([]registryHost, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("discovery.%s: at least one server is required", kind)
	}
	out := make([]registryHost, 0, len(hosts))
	for i, h := range hosts {
		u, err := url.Parse(h)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("discovery.%s: server %d is not an http(s) URL", kind, i+1)
		}
		rh := registryHost{}
		if u.User != nil {
			rh.user = u.User.Username()
			rh.pass, _ = u.User.Password()
			u.User = nil
		}
		rh.base = strings.TrimRight(strings.TrimRight(u.String(), "/")+"/"+strings.Trim(prefix, "/"), "/") + "/"
		out = append(out, rh)
	}
	return out, nil
}

// registryTimeout is a registry's timeout object, in milliseconds.
type registryTimeout struct {
	Connect int `json:"connect"`
	Send    int `json:"send"`
	Read    int `json:"read"`
}

// client bounds one request by the three timeouts together.
func (t registryTimeout) client() *http.Client {
	return &http.Client{Timeout: time.Duration(t.Connect+t.Send+t.Read) * time.Millisecond}
}

// firstAnswer asks each host in turn and returns the first answer, or the last error.
func firstAnswer(hosts []registryHost, ttl time.Duration, ask func(registryHost) ([]model.Node, error)) ([]model.Node, time.Duration, error) {
	var lastErr error
	for _, h := range hosts {
		nodes, err := ask(h)
		if err != nil {
			lastErr = err
			continue
		}
		return nodes, ttl, nil
	}
	return nil, 0, lastErr
}

// consulBase is what discovery.consul and discovery.consul_kv share: servers, token, weight,
// fetch_interval and a connect + read timeout (ms), with APISIX's defaults.
type consulBase struct {
	Servers       []string `json:"servers"`
	Token         string   `json:"token"`
	FetchInterval int      `json:"fetch_interval"`
	Weight        int      `json:"weight"`
	Timeout       struct {
		Connect int `json:"connect"`
		Read    int `json:"read"`
	} `json:"timeout"`
}

func defaultConsulBase() consulBase {
	c := consulBase{FetchInterval: 3, Weight: 1}
	c.Timeout.Connect, c.Timeout.Read = 2000, 2000
	return c
}

// check validates c for discovery.<kind> and returns its servers, client and interval.
func (c *consulBase) check(kind string) ([]registryHost, *http.Client, time.Duration, error) {
	if c.FetchInterval < 1 || c.Weight < 1 {
		return nil, nil, 0, fmt.Errorf("discovery.%s: fetch_interval and weight must be at least 1", kind)
	}
	servers, err := parseHosts(kind, c.Servers, "")
	if err != nil {
		return nil, nil, 0, err
	}
	client := &http.Client{Timeout: time.Duration(c.Timeout.Connect+c.Timeout.Read) * time.Millisecond}
	return servers, client, time.Duration(c.FetchInterval) * time.Second, nil
}
