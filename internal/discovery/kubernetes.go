package discovery

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/upstream"
)

// Kubernetes is discovery.kubernetes: a service_name "namespace/name:portName" (or, with a
// list of clusters, "<cluster id>/namespace/name:portName") is the ready addresses of that
// Service's Endpoints (or EndpointSlices, watch_endpoint_slices) with the port of that name
// (or number), each with default_weight. APISIX list-watches every Endpoints object; Sluice
// asks the API server for the Service a request needs (label_selector applied by the server)
// and re-asks after refresh (1 s), in the background while the last answer serves; upstreams
// naming the same Service share one answer. A Service without ready addresses, or gone, has
// no node (503), as in APISIX.
type Kubernetes struct {
	clusters map[string]*k8sCluster // "" for the single-cluster form
	multi    bool
}

// k8sCluster is one API server with its selectors.
type k8sCluster struct {
	base       string // https://host:port
	nsEqual    string
	nsNotEqual string
	nsMatch    []*regexp.Regexp
	nsNotMatch []*regexp.Regexp
	labels     string // label_selector, passed to the API server
	slices     bool
	weight     int
	client     *http.Client

	tokenMu   sync.Mutex
	token     string
	tokenFile string    // "" when client.token is set
	tokenRead time.Time // projected tokens rotate: the file is read again after tokenReread

	cacheMu sync.Mutex
	cache   map[string]*k8sAnswer // by request path
}

// k8sAnswer is one Service's last answer, shared by the upstreams naming it (any port).
type k8sAnswer struct {
	mu     sync.Mutex // one request at a time per Service
	at     time.Time
	eps    k8sEndpointsList
	slices k8sSliceList
	err    error
}

// tokenReread is how long a token read from token_file is used before reading it again.
const tokenReread = time.Minute

// k8sRefresh is how long an answer is reused: APISIX follows Endpoints through a watch, so
// changes show within about a second here too.
const k8sRefresh = time.Second

// k8sConfig is one cluster's configuration (apisix/discovery/kubernetes/schema.lua).
type k8sConfig struct {
	ID      string `json:"id"`
	Service struct {
		Schema string `json:"schema"`
		Host   string `json:"host"`
		Port   any    `json:"port"`
	} `json:"service"`
	Client struct {
		Token     string `json:"token"`
		TokenFile string `json:"token_file"`
	} `json:"client"`
	NamespaceSelector struct {
		Equal    string   `json:"equal"`
		NotEqual string   `json:"not_equal"`
		Match    []string `json:"match"`
		NotMatch []string `json:"not_match"`
	} `json:"namespace_selector"`
	LabelSelector       string `json:"label_selector"`
	WatchEndpointSlices bool   `json:"watch_endpoint_slices"`
	DefaultWeight       *int   `json:"default_weight"`
}

// NewKubernetes reads discovery.kubernetes: one cluster (an object) or several (a list, each
// with an id).
func NewKubernetes(raw json.RawMessage) (*Kubernetes, error) {
	k := &Kubernetes{clusters: map[string]*k8sCluster{}}
	var list []k8sConfig
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("discovery.kubernetes: %w", err)
		}
		if len(list) == 0 {
			return nil, errors.New("discovery.kubernetes: the list of clusters is empty")
		}
		k.multi = true
	} else {
		var one k8sConfig
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("discovery.kubernetes: %w", err)
		}
		list = []k8sConfig{one}
	}
	for i, c := range list {
		if k.multi && c.ID == "" {
			return nil, fmt.Errorf("discovery.kubernetes[%d]: id is required", i)
		}
		cl, err := newK8sCluster(c)
		if err != nil {
			return nil, fmt.Errorf("discovery.kubernetes %s: %w", c.ID, err)
		}
		if _, dup := k.clusters[c.ID]; dup {
			return nil, fmt.Errorf("discovery.kubernetes: duplicate id %q", c.ID)
		}
		k.clusters[c.ID] = cl
	}
	return k, nil
}

// envRef resolves APISIX's "${NAME}" form (the defaults use KUBERNETES_SERVICE_HOST/PORT).
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

func expandEnv(v string) (string, error) {
	if m := envRef.FindStringSubmatch(v); m != nil {
		val, ok := os.LookupEnv(m[1])
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", m[1])
		}
		return val, nil
	}
	return v, nil
}

func newK8sCluster(c k8sConfig) (*k8sCluster, error) {
	schema := c.Service.Schema
	if schema == "" {
		schema = "https"
	}
	if schema != "http" && schema != "https" {
		return nil, fmt.Errorf("service.schema %q: http or https", schema)
	}
	host, port := c.Service.Host, fmt.Sprint(c.Service.Port)
	if host == "" {
		host = "${KUBERNETES_SERVICE_HOST}"
	}
	if c.Service.Port == nil {
		port = "${KUBERNETES_SERVICE_PORT}"
	}
	if f, ok := c.Service.Port.(float64); ok {
		port = strconv.Itoa(int(f))
	}
	var err error
	if host, err = expandEnv(host); err != nil {
		return nil, fmt.Errorf("service.host: %w", err)
	}
	if port, err = expandEnv(port); err != nil {
		return nil, fmt.Errorf("service.port: %w", err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("service.port %q is not a port", port)
	}
	cl := &k8sCluster{base: schema + "://" + net.JoinHostPort(host, port), slices: c.WatchEndpointSlices, weight: 50,
		nsEqual: c.NamespaceSelector.Equal, nsNotEqual: c.NamespaceSelector.NotEqual}
	if c.DefaultWeight != nil {
		if *c.DefaultWeight < 0 {
			return nil, errors.New("default_weight must be at least 0")
		}
		cl.weight = *c.DefaultWeight
	}
	cl.cache = map[string]*k8sAnswer{}
	switch {
	case c.Client.Token != "":
		if cl.token, err = expandEnv(c.Client.Token); err != nil {
			return nil, fmt.Errorf("client.token: %w", err)
		}
	default:
		file := c.Client.TokenFile
		if file == "" {
			file = "/var/run/secrets/kubernetes.io/serviceaccount/token"
		}
		if file, err = expandEnv(file); err != nil {
			return nil, fmt.Errorf("client.token_file: %w", err)
		}
		cl.tokenFile = file
		if _, err := cl.bearer(true); err != nil {
			return nil, fmt.Errorf("client.token_file: %w", err)
		}
	}
	for _, p := range c.NamespaceSelector.Match {
		re, err := regexp.Compile("^(?:" + p + ")$") // the whole namespace, as APISIX compares
		if err != nil {
			return nil, fmt.Errorf("namespace_selector.match: %w", err)
		}
		cl.nsMatch = append(cl.nsMatch, re)
	}
	for _, p := range c.NamespaceSelector.NotMatch {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			return nil, fmt.Errorf("namespace_selector.not_match: %w", err)
		}
		cl.nsNotMatch = append(cl.nsNotMatch, re)
	}
	cl.labels = strings.TrimSpace(c.LabelSelector)
	// the API server's certificate is not verified (APISIX's informer does not either)
	cl.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as APISIX
		Proxy:               nil,
		MaxIdleConnsPerHost: 16,
	}}
	return cl, nil
}

// bearer is the token; from token_file it is read again once tokenReread passed (or force).
func (c *k8sCluster) bearer(force bool) (string, error) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.tokenFile == "" || !force && time.Since(c.tokenRead) < tokenReread {
		return c.token, nil
	}
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return c.token, err
	}
	c.token, c.tokenRead = strings.TrimSpace(string(b)), time.Now()
	return c.token, nil
}

func (c *k8sCluster) namespaceSelected(ns string) bool {
	switch {
	case c.nsEqual != "":
		return ns == c.nsEqual
	case c.nsNotEqual != "":
		return ns != c.nsNotEqual
	case len(c.nsMatch) > 0:
		for _, re := range c.nsMatch {
			if re.MatchString(ns) {
				return true
			}
		}
		return false
	case len(c.nsNotMatch) > 0:
		for _, re := range c.nsNotMatch {
			if re.MatchString(ns) {
				return false
			}
		}
	}
	return true
}

// Nodes resolves "[cluster/]namespace/name:port".
func (k *Kubernetes) Nodes(serviceName string, _ []byte) ([]model.Node, time.Duration, error) {
	rest := serviceName
	id := ""
	if k.multi {
		var ok bool
		if id, rest, ok = strings.Cut(serviceName, "/"); !ok {
			return nil, 0, fmt.Errorf("kubernetes service_name %q: want <id>/<namespace>/<name>:<port>", serviceName)
		}
	}
	c := k.clusters[id]
	if c == nil {
		return nil, 0, fmt.Errorf("kubernetes cluster %q is not configured", id)
	}
	ns, nameport, ok := strings.Cut(rest, "/")
	name, port, ok2 := strings.Cut(nameport, ":")
	if !ok || !ok2 || ns == "" || name == "" || port == "" {
		return nil, 0, fmt.Errorf("kubernetes service_name %q: want <namespace>/<name>:<port>", serviceName)
	}
	if !c.namespaceSelected(ns) {
		return nil, k8sRefresh, upstream.ErrNoInstances // not watched: APISIX has no nodes for it
	}
	nodes, err := c.answer(ns, name, port)
	if err != nil {
		return nil, 0, err
	}
	if len(nodes) == 0 {
		return nil, k8sRefresh, upstream.ErrNoInstances
	}
	return nodes, k8sRefresh, nil
}

// answer is the Service's nodes for port, from an answer at most k8sRefresh old: upstreams
// naming the same Service, whatever the port (and concurrent refreshes), share one request.
func (c *k8sCluster) answer(ns, name, port string) ([]model.Node, error) {
	key := ns + "/" + name
	c.cacheMu.Lock()
	a := c.cache[key]
	if a == nil {
		a = &k8sAnswer{}
		c.cache[key] = a
	}
	c.cacheMu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at.IsZero() || time.Since(a.at) >= k8sRefresh {
		a.eps, a.slices = k8sEndpointsList{}, k8sSliceList{}
		if c.slices {
			a.err = c.fetchSlices(ns, name, &a.slices)
		} else {
			a.err = c.fetchEndpoints(ns, name, &a.eps)
		}
		a.at = time.Now()
	}
	if a.err != nil {
		return nil, a.err
	}
	if c.slices {
		return c.sliceNodes(&a.slices, port), nil
	}
	return c.endpointNodes(&a.eps, port), nil
}

// get fetches a list from the API server into v; a rejected token read from token_file is
// read again and the request retried once.
func (c *k8sCluster) get(path string, q url.Values, v any) error {
	for try := 0; ; try++ {
		token, _ := c.bearer(try > 0)
		status, err := c.getOnce(path+"?"+q.Encode(), token, v)
		if status == http.StatusUnauthorized && try == 0 && c.tokenFile != "" {
			continue
		}
		return err
	}
}

func (c *k8sCluster) getOnce(path, token string, v any) (int, error) {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("kubernetes API %s: %w", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection
		return resp.StatusCode, fmt.Errorf("kubernetes API %s%s: status %d", c.base, path, resp.StatusCode)
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// selector joins label requirements for the API server.
func selector(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

type k8sEndpointsList struct {
	Items []k8sEndpoints `json:"items"`
}

type k8sEndpoints struct {
	Subsets []struct {
		Addresses []struct {
			IP string `json:"ip"`
		} `json:"addresses"`
		Ports []k8sPort `json:"ports"`
	} `json:"subsets"`
}

type k8sPort struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// portMatches takes a port by its name or, for an unnamed port, its number (APISIX keys a
// port by name, or by number when it has none).
func portMatches(p k8sPort, want string) bool {
	if p.Name != "" {
		return p.Name == want
	}
	return strconv.Itoa(p.Port) == want
}

func (c *k8sCluster) fetchEndpoints(ns, name string, list *k8sEndpointsList) error {
	q := url.Values{"fieldSelector": {"metadata.name=" + name}}
	if c.labels != "" {
		q.Set("labelSelector", c.labels)
	}
	return c.get("/api/v1/namespaces/"+url.PathEscape(ns)+"/endpoints", q, list)
}

func (c *k8sCluster) endpointNodes(list *k8sEndpointsList, port string) []model.Node {
	var nodes []model.Node
	for _, ep := range list.Items {
		for _, s := range ep.Subsets {
			for _, p := range s.Ports {
				if !portMatches(p, port) {
					continue
				}
				for _, a := range s.Addresses {
					nodes = append(nodes, model.Node{Host: a.IP, Port: p.Port, Weight: c.weight})
				}
			}
		}
	}
	return nodes
}

type k8sSliceList struct {
	Items []struct {
		AddressType string `json:"addressType"`
		Endpoints   []struct {
			Addresses  []string `json:"addresses"`
			Conditions struct {
				Ready *bool `json:"ready"`
			} `json:"conditions"`
		} `json:"endpoints"`
		Ports []k8sPort `json:"ports"`
	} `json:"items"`
}

func (c *k8sCluster) fetchSlices(ns, name string, list *k8sSliceList) error {
	q := url.Values{"labelSelector": {selector("kubernetes.io/service-name="+name, c.labels)}}
	return c.get("/apis/discovery.k8s.io/v1/namespaces/"+url.PathEscape(ns)+"/endpointslices", q, list)
}

func (c *k8sCluster) sliceNodes(list *k8sSliceList, port string) []model.Node {
	var nodes []model.Node
	seen := map[string]bool{} // an address may be in two slices while they are rebalanced
	for _, it := range list.Items {
		if it.AddressType == "FQDN" {
			continue // names, not addresses
		}
		for _, p := range it.Ports {
			if !portMatches(p, port) {
				continue
			}
			for _, e := range it.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					continue // an unset condition counts as ready (the API's convention)
				}
				for _, a := range e.Addresses {
					if k := net.JoinHostPort(a, strconv.Itoa(p.Port)); !seen[k] {
						seen[k] = true
						nodes = append(nodes, model.Node{Host: a, Port: p.Port, Weight: c.weight})
					}
				}
			}
		}
	}
	return nodes
}
