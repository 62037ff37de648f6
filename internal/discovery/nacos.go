package discovery

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Nacos signs with HMAC-SHA1
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/model"
)

// Nacos is discovery.nacos: a service_name is a Nacos service in discovery_args.namespace_id
// (default public) and group_name (default DEFAULT_GROUP); its healthy instances
// (ns/instance/list?healthyOnly=true) are the nodes. Answers are reused for fetch_interval
// seconds, as APISIX fetches the registry on that timer.
type Nacos struct {
	hosts     []registryHost
	interval  time.Duration
	weight    int
	accessKey string
	secretKey string
	client    *http.Client
	nowMillis func() int64
}

// nacosConfig is discovery.nacos (apisix/discovery/nacos/schema.lua).
type nacosConfig struct {
	Host          []string        `json:"host"`
	Prefix        string          `json:"prefix"`
	FetchInterval int             `json:"fetch_interval"`
	Weight        int             `json:"weight"`
	Timeout       registryTimeout `json:"timeout"`
	AccessKey     string          `json:"access_key"`
	SecretKey     string          `json:"secret_key"`
}

// NewNacos reads discovery.nacos.
func NewNacos(raw json.RawMessage) (*Nacos, error) {
	c := nacosConfig{Prefix: "/nacos/v1/", FetchInterval: 30, Weight: 100}
	c.Timeout.Connect, c.Timeout.Send, c.Timeout.Read = 2000, 2000, 5000
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("discovery.nacos: %w", err)
	}
	if c.FetchInterval < 1 || c.Weight < 1 {
		return nil, errors.New("discovery.nacos: fetch_interval and weight must be at least 1")
	}
	hosts, err := parseHosts("nacos", c.Host, c.Prefix)
	if err != nil {
		return nil, err
	}
	d := &Nacos{hosts: hosts, interval: time.Duration(c.FetchInterval) * time.Second, weight: c.Weight,
		accessKey: c.AccessKey, secretKey: c.SecretKey, client: c.Timeout.client(),
		nowMillis: func() int64 { return time.Now().UnixMilli() }}
	return d, nil
}

// Nodes asks each host in turn for the service's healthy instances.
func (d *Nacos) Nodes(serviceName string, args []byte) ([]model.Node, time.Duration, error) {
	var a struct {
		NamespaceID string `json:"namespace_id"`
		GroupName   string `json:"group_name"`
	}
	if len(args) > 0 {
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, 0, fmt.Errorf("discovery_args: %w", err)
		}
	}
	if a.NamespaceID == "" {
		a.NamespaceID = "public"
	}
	if a.GroupName == "" {
		a.GroupName = "DEFAULT_GROUP"
	}
	return firstAnswer(d.hosts, d.interval, func(h registryHost) ([]model.Node, error) {
		return d.fetch(h, serviceName, a.NamespaceID, a.GroupName)
	})
}

func (d *Nacos) fetch(h registryHost, service, namespace, group string) ([]model.Node, error) {
	q := url.Values{"healthyOnly": {"true"}, "serviceName": {service}, "namespaceId": {namespace}, "groupName": {group}}
	if h.user != "" {
		token, err := d.login(h)
		if err != nil {
			return nil, err
		}
		q.Set("accessToken", token)
	}
	if d.accessKey != "" && d.secretKey != "" {
		data := strconv.FormatInt(d.nowMillis(), 10) + "@@" + group + "@@" + service
		mac := hmac.New(sha1.New, []byte(d.secretKey))
		mac.Write([]byte(data))
		q.Set("ak", d.accessKey)
		q.Set("data", data)
		q.Set("signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	var list struct {
		Hosts []struct {
			IP     string   `json:"ip"`
			Port   int      `json:"port"`
			Weight *float64 `json:"weight"`
		} `json:"hosts"`
	}
	if err := d.call(http.MethodGet, h.base+"ns/instance/list?"+q.Encode(), nil, &list); err != nil {
		return nil, err
	}
	nodes := make([]model.Node, 0, len(list.Hosts))
	for _, x := range list.Hosts {
		w := d.weight
		if x.Weight != nil {
			w = int(math.Ceil(*x.Weight)) // 0.3 still takes traffic; 0 none
		}
		nodes = append(nodes, model.Node{Host: x.IP, Port: x.Port, Weight: w})
	}
	return nodes, nil
}

// login exchanges the host's credentials for an access token (auth/login).
func (d *Nacos) login(h registryHost) (string, error) {
	var res struct {
		AccessToken string `json:"accessToken"`
	}
	form := url.Values{"username": {h.user}, "password": {h.pass}}
	if err := d.call(http.MethodPost, h.base+"auth/login", form, &res); err != nil {
		return "", fmt.Errorf("nacos login: %w", err)
	}
	return res.AccessToken, nil
}

// call sends form (if any) as the body, so credentials stay out of URLs; errors name the host
// only, as the query may hold an access token.
func (d *Nacos) call(method, u string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return errors.New("nacos: bad request URL")
	}
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("nacos %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("nacos %s: status = %d", req.URL.Host, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
