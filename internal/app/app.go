// Package app wires a Sluice node together: it reads the node config, opens the store (starting
// the embedded etcd when no external one is configured), starts the listeners, and stops them
// gracefully.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluicegw/sluice/internal/accesslog"
	"github.com/sluicegw/sluice/internal/admin"
	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/control"
	"github.com/sluicegw/sluice/internal/encryption"
	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/internal/proxy"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/etcd"
	"github.com/sluicegw/sluice/internal/store/standalone"
	"github.com/sluicegw/sluice/internal/stream"
)

// Version is Sluice's version; APISIXVersion is the APISIX release it is compatible with.
const (
	Version       = "0.1.0"
	APISIXVersion = "3.18.0"
)

// Options are what the CLI passes in.
type Options struct {
	Config *conf.Config
	// ConfigPath is the file Config came from ("" for defaults); plugin reloads re-read it.
	ConfigPath string
	DataDir    string
	Logger     *slog.Logger
	// Ready, when set, is called once every listener is bound (tests use it).
	Ready func(*Node)
}

// Node is a running gateway node.
type Node struct {
	cfg     *conf.Config
	log     *slog.Logger
	store   store.Store
	embed   *etcd.Embedded
	plugins *pluginSet
	view    *nodeView // the node as plugins see it, and their node-level state
	dataDir string
	access  *accesslog.Log
	// reloadMu serializes plugin reloads (Admin API and control API)
	reloadMu sync.Mutex
	servers  []*http.Server
	proxy    *proxy.Server
	stream   *stream.Server // nil without stream listeners
	// pushed is the in-memory store of the API-driven standalone mode (nil otherwise)
	pushed  *standalone.Store
	keyring *encryption.Keyring
	// snapshots compiles the store into what the proxy serves.
	snapshots       *snapshot.Compiler
	shutdownTimeout time.Duration
	// AdminKeyPath is the file holding a generated admin key ("" when keys come from config).
	AdminKeyPath string
}

// Run starts a node and blocks until ctx is cancelled, then shuts it down gracefully.
func Run(ctx context.Context, o Options) error {
	n, err := start(ctx, o)
	if err != nil {
		return err
	}
	if o.Ready != nil {
		o.Ready(n)
	}
	errc := make(chan error, 1)
	if n.proxy != nil {
		go func() { errc <- n.serveProxy(ctx) }()
	}
	if n.stream != nil {
		go n.serveStream(ctx)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil {
			n.log.Error("proxy stopped", "error", err)
		}
	}
	n.log.Info("shutting down")
	n.stop()
	return err
}

func start(ctx context.Context, o Options) (n *Node, err error) {
	cfg, log := o.Config, o.Logger
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	node := &Node{cfg: cfg, log: log, dataDir: o.DataDir}
	n = node
	defer func() {
		if err != nil {
			// node, not n: every "return nil, err" has already set n to nil.
			node.stop()
		}
	}()

	if err := n.openStore(ctx, o.DataDir, o.ConfigPath); err != nil {
		return nil, err
	}
	enabled := cfg.Plugins
	if fs, ok := n.store.(*standalone.Store); ok && fs.Plugins() != nil {
		enabled = fs.Plugins() // apisix.yaml's `plugins:` replaces config.yaml's, as in APISIX
	}
	n.plugins = newPluginSet(enabled, log)
	if n.view, err = newNodeView(n, cfg, o.DataDir); err != nil {
		return nil, err
	}
	// APISIX encrypts SSL keys whenever a keyring exists, and plugin encrypt_fields only with
	// enable_encrypt_fields; both planes use the same keyring (admin writes, data plane reads).
	ring := cfg.Apisix.DataEncryption.Keyring
	if len(ring) == 0 {
		ring = encryption.DefaultKeyring
	}
	keyring, err := encryption.NewKeyring(ring)
	if err != nil {
		return nil, fmt.Errorf("apisix.data_encryption.keyring: %w", err)
	}
	n.keyring = keyring.WithEncryptFields(cfg.Apisix.DataEncryption.EnableEncryptFields)
	checker, err := model.NewChecker(model.Options{Enabled: n.plugins.IsEnabled,
		StreamEnabled: streamPluginSet(cfg.StreamPlugins), PluginEnv: n.view.checkEnv})
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}
	if err := n.publishPlugins(ctx); err != nil {
		return nil, err
	}

	if cfg.Deployment.Role != "data_plane" {
		keys, err := n.adminKeys(o.DataDir)
		if err != nil {
			return nil, err
		}
		allow, err := parseAllow(cfg.Deployment.Admin.AllowAdmin)
		if err != nil {
			return nil, err
		}
		h := admin.New(admin.Options{
			Store:               n.store,
			Checker:             checker,
			Prefix:              cfg.Deployment.Etcd.Prefix,
			Keys:                keys,
			KeyRequired:         cfg.Deployment.Admin.AdminKeyRequired,
			AllowAdmin:          allow,
			EnableCORS:          cfg.Deployment.Admin.EnableAdminCORS,
			Keyring:             n.keyring,
			StreamMode:          cfg.StreamMode(),
			Standalone:          n.standaloneApplier(),
			EnabledPlugins:      n.plugins.Enabled,
			StreamPluginEnabled: streamPluginSet(cfg.StreamPlugins),
			ReloadPlugins:       func() error { return n.reloadPlugins(o.ConfigPath) },
			StoreTimeout:        time.Duration(cfg.Deployment.Etcd.Timeout) * time.Second,
			Logger:              log.With("component", "admin"),
		})
		if err := n.serveHTTP("admin", cfg.AdminAddr(), h); err != nil {
			return nil, err
		}
	}
	if cfg.Deployment.Role != "control_plane" {
		if err := n.startDataPlane(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.Apisix.EnableControl {
		co := control.Options{Checker: checker, Enabled: n.plugins.Enabled, Prefix: cfg.Deployment.Etcd.Prefix,
			ReloadPlugins: func() error { return n.reloadPlugins(o.ConfigPath) }, EnablePprof: cfg.Apisix.Extra["enable_pprof"] == true}
		if n.snapshots != nil {
			co.Snapshot = n.snapshots.Load
		}
		if err := n.serveHTTP("control", cfg.ControlAddr(), control.New(co)); err != nil {
			return nil, err
		}
	}
	if addr := cfg.StatusAddr(); addr != "" && n.snapshots != nil {
		if err := n.serveHTTP("status", addr, control.Status(n.readiness(ctx))); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n *Node) openStore(ctx context.Context, dataDir, configPath string) error {
	if n.cfg.Deployment.Role == "traditional" && n.cfg.ConfigProvider() == "yaml" {
		// API-driven standalone: in memory, pushed through /apisix/admin/configs
		s := standalone.NewMemory(n.cfg.Deployment.Etcd.Prefix, n.log.With("component", "standalone"))
		n.store, n.pushed = s, s
		n.log.Info("standalone mode: configuration pushed through the Admin API (/apisix/admin/configs)")
		return nil
	}
	if n.cfg.Deployment.Role == "data_plane" {
		switch p := n.cfg.ConfigProvider(); p {
		case "yaml", "json":
			// standalone, file-driven: conf/apisix.yaml (or .json) beside config.yaml
			dir := "conf"
			if configPath != "" {
				dir = filepath.Dir(configPath)
			}
			path := filepath.Join(dir, "apisix."+p)
			s, err := standalone.Open(path, n.cfg.Deployment.Etcd.Prefix, n.log.With("component", "standalone"))
			if err != nil {
				return fmt.Errorf("standalone config (config_provider %s): %w", p, err)
			}
			n.store = s
			n.log.Info("standalone mode: configuration from file", "file", path)
			return nil
		case "xds":
			return errors.New("deployment.role_data_plane.config_provider xds is not supported")
		}
	}
	ec := n.cfg.Deployment.Etcd
	endpoints := ec.Host
	if n.cfg.Embedded() {
		var err error
		n.embed, err = etcd.StartEmbedded(ctx, etcd.EmbeddedOptions{
			Dir:          filepath.Join(dataDir, "etcd"),
			ListenClient: ec.Embedded.ListenClient,
			ListenPeer:   ec.Embedded.ListenPeer,
			Logger:       n.log.With("component", "etcd"),
		})
		if err != nil {
			return fmt.Errorf("embedded etcd: %w", err)
		}
		endpoints = n.embed.Endpoints()
		n.log.Info("embedded etcd started", "dir", filepath.Join(dataDir, "etcd"), "client", strings.Join(endpoints, ","))
	}
	timeout := time.Duration(ec.Timeout) * time.Second
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	s, err := etcd.New(ctx, etcd.Options{
		Endpoints:   endpoints,
		Username:    ec.User,
		Password:    ec.Password,
		DialTimeout: timeout,
		Logger:      n.log.With("component", "store"),
	})
	if err != nil {
		return fmt.Errorf("etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	n.store = s
	return nil
}

// readiness is closed once the node serves a configuration: the first snapshot, and in
// API-driven standalone mode also the first push (before it, nothing is configured).
func (n *Node) readiness(ctx context.Context) <-chan struct{} {
	if n.pushed == nil {
		return n.snapshots.Ready()
	}
	ready := make(chan struct{})
	go func() {
		for _, ch := range []<-chan struct{}{n.pushed.Pushed(), n.snapshots.Ready()} {
			select {
			case <-ch:
			case <-ctx.Done():
				return // the node stops before its first push
			}
		}
		close(ready)
	}()
	return ready
}

// standaloneApplier is the Admin API's /configs target in API-driven standalone mode.
func (n *Node) standaloneApplier() admin.ConfigApplier {
	if n.pushed == nil {
		return nil
	}
	return n.pushed
}

// adminKeys returns the configured keys, or a generated one kept in the data dir when the
// config names no non-empty key.
func (n *Node) adminKeys(dataDir string) ([]conf.AdminKey, error) {
	var keys []conf.AdminKey
	for _, k := range n.cfg.Deployment.Admin.AdminKey {
		if k.Key != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 || !n.cfg.Deployment.Admin.AdminKeyRequired {
		return keys, nil
	}
	key, generated, err := loadOrGenerateAdminKey(dataDir)
	if err != nil {
		return nil, err
	}
	n.AdminKeyPath = filepath.Join(dataDir, adminKeyFile)
	if generated {
		n.log.Warn("no admin key configured: generated one; use it in the X-API-KEY header",
			"admin_key", key, "saved_to", n.AdminKeyPath)
	} else {
		n.log.Info("admin key loaded", "path", n.AdminKeyPath)
	}
	return []conf.AdminKey{{Name: "admin", Key: key, Role: "admin"}}, nil
}

func parseAllow(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("deployment.admin.allow_admin: %q is not an IP or CIDR", e)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (n *Node) serveHTTP(name, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s listen %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}
	n.servers = append(n.servers, srv)
	n.log.Info(name+" API listening", "addr", ln.Addr().String())
	go func() {
		defer func() {
			if r := recover(); r != nil {
				n.log.Error(name+" server panic", "panic", r)
			}
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error(name+" server stopped", "error", err)
		}
	}()
	return nil
}

// stop shuts everything down in reverse order of start; it is safe on a partly started node.
func (n *Node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// the stream and HTTP listeners close together and drain in parallel, under the same
	// worker_shutdown_timeout
	var streamDone sync.WaitGroup
	if n.stream != nil {
		streamDone.Go(func() {
			sctx, scancel := context.WithTimeout(context.Background(), n.shutdownTimeout)
			defer scancel()
			if err := n.stream.Shutdown(sctx); err != nil {
				n.log.Warn("stream shutdown: sessions cut at worker_shutdown_timeout", "error", err)
			}
		})
	}
	if n.proxy != nil {
		n.stopProxy()
	}
	streamDone.Wait()
	if n.view != nil {
		n.view.stopPlugins()
	}
	if n.access != nil {
		if err := n.access.Close(); err != nil {
			n.log.Warn("access log close", "error", err)
		}
	}
	for _, s := range n.servers {
		if err := s.Shutdown(ctx); err != nil {
			n.log.Warn("server shutdown", "error", err)
		}
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.embed != nil {
		if err := n.embed.Close(); err != nil {
			n.log.Warn("embedded etcd stop", "error", err)
		}
	}
}
