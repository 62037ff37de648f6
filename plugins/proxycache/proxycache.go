// Package proxycache implements APISIX's proxy-cache plugin: upstream responses are cached in
// a node-level zone, either on disk (nginx proxy_cache's semantics: TTL from the upstream's
// Cache-Control/Expires, else apisix.proxy_cache.cache_ttl) or in memory (APISIX's shared-dict
// handler: TTL cache_ttl, optional request Cache-Control). Zones are created once per node by
// Start from apisix.proxy_cache and shared by every instance; New resolves its zone by name.
package proxycache

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicegw/sluice/plugin"
)

// schema validates the plugin's conf on routes, services, plugin configs, consumers and global rules.
//
//go:embed schema.json
var schema []byte

func init() {
	plugin.Register(plugin.Definition{
		Name:           "proxy-cache",
		Priority:       1085,
		Version:        "0.2",
		Schema:         schema,
		DefaultEnabled: true,
		New:            newProxyCache,
		Start:          start,
	})
}

const (
	strategyDisk   = "disk"
	strategyMemory = "memory"
)

type config struct {
	CacheZone         *string  `json:"cache_zone"`
	CacheStrategy     *string  `json:"cache_strategy"`
	CacheKey          []string `json:"cache_key"`
	CacheHTTPStatus   []int    `json:"cache_http_status"`
	CacheMethod       []string `json:"cache_method"`
	HideCacheHeaders  bool     `json:"hide_cache_headers"`
	CacheControl      bool     `json:"cache_control"`
	CacheBypass       []string `json:"cache_bypass"`
	NoCache           []string `json:"no_cache"`
	CacheTTL          *int     `json:"cache_ttl"`
	ConsumerIsolation *bool    `json:"consumer_isolation"`
	CacheSetCookie    bool     `json:"cache_set_cookie"`
	MaxRespBodySize   *int64   `json:"max_resp_body_size"`
}

// ProxyCache is one compiled proxy-cache conf.
type ProxyCache struct {
	zone   *zone // nil only where no data plane runs (Admin API validation)
	memory bool

	key        complexValue
	bypass     complexValue // empty: none configured
	noCache    complexValue
	isolate    bool // prefix the key with the consumer's identity
	methods    [3]string
	nMethods   int
	statuses   []int
	hide       bool
	cacheCtl   bool
	setCookie  bool
	ttl        time.Duration // memory strategy
	maxBody    int64         // memory strategy
	lockWait   time.Duration // how long a collapsed miss waits for the fill (proxy_cache_lock_timeout)
	logger     *slog.Logger
	identVarIn bool
}

// identityVars are the cache_key variables that already separate consumers, so
// consumer_isolation adds no prefix when one of them is in the key.
var identityVars = map[string]bool{
	"$consumer_name": true, "$consumer_group_id": true, "$remote_user": true, "$http_authorization": true,
}

func newProxyCache(raw json.RawMessage, env plugin.Env) (any, error) {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	zoneName, strategy := "disk_cache_one", strategyDisk
	if c.CacheZone != nil {
		zoneName = *c.CacheZone
	}
	if c.CacheStrategy != nil {
		strategy = *c.CacheStrategy
	}
	if len(c.CacheKey) == 0 {
		c.CacheKey = []string{"$host", "$request_uri"}
	}
	for _, k := range c.CacheKey {
		if k == "$request_method" {
			return nil, fmt.Errorf("cache_key variable %s unsupported", k)
		}
	}

	// The Admin API compiles a conf without the node's zones (Env.Shared is nil there): it
	// checks against APISIX's default zone list, as check_schema reads config-default.
	zs, _ := env.Shared.(*zones)
	var specs []zoneSpec
	if zs != nil {
		specs = zs.specs
	} else {
		if env.Node != nil {
			return nil, errors.New("proxy-cache: cache zones are not running on this node")
		}
		specs = defaultZoneSpecs()
	}
	if err := checkZone(specs, zoneName, strategy); err != nil {
		return nil, err
	}

	p := &ProxyCache{
		memory:    strategy == strategyMemory,
		key:       compileComplex(c.CacheKey),
		bypass:    compileComplex(c.CacheBypass),
		noCache:   compileComplex(c.NoCache),
		isolate:   c.ConsumerIsolation == nil || *c.ConsumerIsolation,
		statuses:  c.CacheHTTPStatus,
		hide:      c.HideCacheHeaders,
		cacheCtl:  c.CacheControl,
		setCookie: c.CacheSetCookie,
		ttl:       300 * time.Second,
		maxBody:   67108864,
		lockWait:  5 * time.Second,
		logger:    env.Logger,
	}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	if zs != nil {
		p.zone = zs.byName[zoneName]
	}
	for _, k := range c.CacheKey {
		if identityVars[k] {
			p.identVarIn = true
		}
	}
	if len(p.statuses) == 0 {
		p.statuses = []int{200, 301, 404}
	}
	if len(c.CacheMethod) == 0 {
		c.CacheMethod = []string{"GET", "HEAD"}
	}
	p.nMethods = copy(p.methods[:], c.CacheMethod)
	if c.CacheTTL != nil {
		p.ttl = time.Duration(*c.CacheTTL) * time.Second
	}
	if c.MaxRespBodySize != nil {
		p.maxBody = *c.MaxRespBodySize
	}
	return p, nil
}

// checkZone is APISIX's check_schema zone test, with its error texts.
func checkZone(specs []zoneSpec, name, strategy string) error {
	for _, s := range specs {
		if s.Name != name {
			continue
		}
		if (strategy == strategyMemory) == s.disk() {
			return fmt.Errorf("invalid or empty cache_zone for cache_strategy: %s", strategy)
		}
		return nil
	}
	return fmt.Errorf("cache_zone %s not found", name)
}

func (p *ProxyCache) matchMethod(m []byte) bool {
	for _, x := range p.methods[:p.nMethods] {
		if x == string(m) {
			return true
		}
	}
	return false
}

func (p *ProxyCache) matchStatus(st int) bool {
	for _, s := range p.statuses {
		if s == st {
			return true
		}
	}
	return false
}

var (
	_ plugin.Accessor       = (*ProxyCache)(nil)
	_ plugin.HeaderFilterer = (*ProxyCache)(nil)
	_ plugin.BodyFilterer   = (*ProxyCache)(nil)
	_ plugin.Logger         = (*ProxyCache)(nil)
)
