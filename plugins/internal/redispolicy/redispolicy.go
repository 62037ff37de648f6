// Package redispolicy builds the go-redis clients of the limit-* plugins' Redis policies
// (`redis`, `redis-cluster`, `redis-sentinel`) from APISIX's conf fields
// (apisix/utils/redis-schema.lua and limit-count's sentinel fields).
//
// Clients are shared: every conf with identical connection settings gets the same client, so
// ten thousand routes pointing at one Redis open one pool, not ten thousand. Acquire counts a
// reference and Release drops it; the last Release closes the client after a short grace
// period (an in-flight request of the previous snapshot may still be using it).
//
// Usage in a plugin:
//
//	type conf struct {
//		Policy string `json:"policy"`
//		redispolicy.Conf
//	}
//	cl, err := c.Conf.Acquire(c.Policy) // in New
//	rdb := cl.Redis()                    // per request
//	cl.Release()                         // in Close
package redispolicy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Policy names as APISIX spells them.
const (
	PolicyRedis         = "redis"
	PolicyRedisCluster  = "redis-cluster"
	PolicyRedisSentinel = "redis-sentinel"
)

// Sentinel is one entry of redis_sentinels.
type Sentinel struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// Conf holds every Redis field APISIX's limit-* schemas define; embed it in a plugin's conf
// struct so the fields decode from the same JSON object. Zero values mean "absent"; Acquire
// applies APISIX's defaults.
type Conf struct {
	// policy redis
	RedisHost             string `json:"redis_host,omitempty"`
	RedisPort             int    `json:"redis_port,omitempty"`
	RedisUsername         string `json:"redis_username,omitempty"`
	RedisPassword         string `json:"redis_password,omitempty"`
	RedisDatabase         int    `json:"redis_database,omitempty"`
	RedisTimeout          int    `json:"redis_timeout,omitempty"` // ms, connect/send/read
	RedisSSL              bool   `json:"redis_ssl,omitempty"`
	RedisSSLVerify        bool   `json:"redis_ssl_verify,omitempty"`
	RedisKeepaliveTimeout int    `json:"redis_keepalive_timeout,omitempty"` // ms
	RedisKeepalivePool    int    `json:"redis_keepalive_pool,omitempty"`

	// policy redis-cluster
	RedisClusterNodes     []string `json:"redis_cluster_nodes,omitempty"`
	RedisClusterName      string   `json:"redis_cluster_name,omitempty"`
	RedisClusterSSL       bool     `json:"redis_cluster_ssl,omitempty"`
	RedisClusterSSLVerify bool     `json:"redis_cluster_ssl_verify,omitempty"`

	// policy redis-sentinel (limit-count)
	RedisSentinels      []Sentinel `json:"redis_sentinels,omitempty"`
	RedisMasterName     string     `json:"redis_master_name,omitempty"`
	RedisRole           string     `json:"redis_role,omitempty"` // master (default) or slave
	RedisConnectTimeout int        `json:"redis_connect_timeout,omitempty"`
	RedisReadTimeout    int        `json:"redis_read_timeout,omitempty"`
	SentinelUsername    string     `json:"sentinel_username,omitempty"`
	SentinelPassword    string     `json:"sentinel_password,omitempty"`
}

// go-redis logs connection trouble with the standard logger, once per failed command while
// Redis is down; the plugins already log each failure with context, so its own lines go to
// slog at debug level. (go-redis's logger is process-global; this package owns the gateway's
// only go-redis clients.)
func init() { redis.SetLogger(slogLogger{}) }

type slogLogger struct{}

func (slogLogger) Printf(ctx context.Context, format string, v ...any) {
	if slog.Default().Enabled(ctx, slog.LevelDebug) {
		slog.Debug(fmt.Sprintf(format, v...), "component", "go-redis")
	}
}

// Client is a shared go-redis client; get it with Conf.Acquire, give it back with Release.
type Client struct {
	key  string
	rdb  redis.UniversalClient
	refs int         // guarded by poolMu
	idle *time.Timer // pending close after the last Release; guarded by poolMu
}

// Redis returns the go-redis client. Safe for concurrent use; do not Close it.
func (c *Client) Redis() redis.UniversalClient { return c.rdb }

// CloseGrace is how long a client with no references stays open, for requests still running
// on an instance that was just retired. A variable so tests can shorten it.
var CloseGrace = 10 * time.Second

// The pool of shared clients, keyed by connection settings. Deliberately process-global: its
// purpose is sharing one connection pool among all instances with the same settings. Only
// Acquire and Release take the lock, never a request.
var (
	poolMu sync.Mutex
	pool   = map[string]*Client{}
)

// Acquire returns the shared client for policy with these settings, creating it if needed.
// It does not connect: go-redis dials lazily, so an unreachable Redis surfaces as a
// per-command error (and a conf can be compiled where no Redis is reachable, e.g. for Admin
// API validation).
func (c *Conf) Acquire(policy string) (*Client, error) {
	key, build, err := c.prepare(policy)
	if err != nil {
		return nil, err
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	if cl, ok := pool[key]; ok {
		cl.refs++
		if cl.idle != nil {
			cl.idle.Stop()
			cl.idle = nil
		}
		return cl, nil
	}
	cl := &Client{key: key, rdb: build(), refs: 1}
	pool[key] = cl
	return cl, nil
}

// Release drops one reference; the last one schedules the client's close after CloseGrace
// (an Acquire in between keeps it). Releasing a nil client does nothing.
func (c *Client) Release() {
	if c == nil {
		return
	}
	poolMu.Lock()
	defer poolMu.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	c.idle = time.AfterFunc(CloseGrace, func() {
		poolMu.Lock()
		if c.refs > 0 || pool[c.key] != c {
			poolMu.Unlock()
			return
		}
		delete(pool, c.key)
		poolMu.Unlock()
		_ = c.rdb.Close()
	})
}

// Shared reports how many distinct clients are open (tests check sharing with it).
func Shared() int {
	poolMu.Lock()
	defer poolMu.Unlock()
	return len(pool)
}

func ms(v, def int) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Millisecond
}

func tlsConf(on, verify bool, serverName string) *tls.Config {
	if !on {
		return nil
	}
	// APISIX's redis_ssl_verify defaults to false: TLS without certificate checks.
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS12}
}

// prepare validates c for policy and returns the sharing key and a constructor.
func (c *Conf) prepare(policy string) (string, func() redis.UniversalClient, error) {
	pool := c.RedisKeepalivePool
	if pool <= 0 {
		pool = 100
	}
	// go-redis retries (command and dial) and the RESP3 handshake are off: APISIX sends one
	// command per attempt over RESP2, and a dead Redis must fail the request at once
	// (allow_degradation decides).
	noMaint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch policy {
	case PolicyRedis:
		if c.RedisHost == "" {
			return "", nil, errors.New("redis_host is required for policy redis")
		}
		port := c.RedisPort
		if port == 0 {
			port = 6379
		}
		timeout := ms(c.RedisTimeout, 1000)
		o := &redis.Options{
			Addr: net.JoinHostPort(c.RedisHost, strconv.Itoa(port)), Username: c.RedisUsername,
			Password: c.RedisPassword, DB: c.RedisDatabase, Protocol: 2, DisableIdentity: true,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: -1, DialerRetries: 1,
			PoolSize: pool, MaxIdleConns: pool, ConnMaxIdleTime: ms(c.RedisKeepaliveTimeout, 10000),
			TLSConfig: tlsConf(c.RedisSSL, c.RedisSSLVerify, c.RedisHost), MaintNotificationsConfig: noMaint,
		}
		key := fmt.Sprintf("redis|%s|%s|%s|%d|%d|%t|%t|%d|%d", o.Addr, o.Username, o.Password, o.DB,
			timeout, c.RedisSSL, c.RedisSSLVerify, pool, o.ConnMaxIdleTime)
		return key, func() redis.UniversalClient { return redis.NewClient(o) }, nil
	case PolicyRedisCluster:
		if len(c.RedisClusterNodes) == 0 {
			return "", nil, errors.New("redis_cluster_nodes is required for policy redis-cluster")
		}
		timeout := ms(c.RedisTimeout, 1000)
		host := ""
		if h, _, err := net.SplitHostPort(c.RedisClusterNodes[0]); err == nil {
			host = h
		}
		o := &redis.ClusterOptions{
			Addrs: append([]string(nil), c.RedisClusterNodes...), Password: c.RedisPassword,
			Protocol: 2, DisableIdentity: true, MaxRetries: -1, DialerRetries: 1,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
			PoolSize: pool, MaxIdleConns: pool, ConnMaxIdleTime: ms(c.RedisKeepaliveTimeout, 10000),
			TLSConfig: tlsConf(c.RedisClusterSSL, c.RedisClusterSSLVerify, host), MaintNotificationsConfig: noMaint,
		}
		key := fmt.Sprintf("cluster|%s|%q|%s|%d|%t|%t|%d|%d", c.RedisClusterName, o.Addrs, o.Password,
			timeout, c.RedisClusterSSL, c.RedisClusterSSLVerify, pool, o.ConnMaxIdleTime)
		return key, func() redis.UniversalClient { return redis.NewClusterClient(o) }, nil
	case PolicyRedisSentinel:
		if len(c.RedisSentinels) == 0 || c.RedisMasterName == "" {
			return "", nil, errors.New("redis_sentinels and redis_master_name are required for policy redis-sentinel")
		}
		addrs := make([]string, len(c.RedisSentinels))
		for i, s := range c.RedisSentinels {
			addrs[i] = net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
		}
		connect, read := ms(c.RedisConnectTimeout, 1000), ms(c.RedisReadTimeout, 1000)
		o := &redis.FailoverOptions{
			MasterName: c.RedisMasterName, SentinelAddrs: addrs,
			SentinelUsername: c.SentinelUsername, SentinelPassword: c.SentinelPassword,
			Username: c.RedisUsername, Password: c.RedisPassword, DB: c.RedisDatabase,
			ReplicaOnly: c.RedisRole == "slave", Protocol: 2, DisableIdentity: true, MaxRetries: -1, DialerRetries: 1,
			DialTimeout: connect, ReadTimeout: read, WriteTimeout: read,
			PoolSize: pool, MaxIdleConns: pool, ConnMaxIdleTime: ms(c.RedisKeepaliveTimeout, 60000),
		}
		key := fmt.Sprintf("sentinel|%s|%q|%s|%s|%s|%s|%d|%t|%d|%d|%d", o.MasterName, addrs, o.SentinelUsername,
			o.SentinelPassword, o.Username, o.Password, o.DB, o.ReplicaOnly, connect, read, o.ConnMaxIdleTime)
		return key, func() redis.UniversalClient { return redis.NewFailoverClient(o) }, nil
	}
	return "", nil, fmt.Errorf("unknown redis policy %q", policy)
}
