package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/proxy"
	"github.com/sluicegw/sluice/internal/snapshot"
	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/plugin"
)

// nodeView is the node as plugins see it (plugin.Node): the configuration as JSON, identity,
// live status, and the internal APIs of the started plugins.
type nodeView struct {
	n        *Node
	tree     map[string]any // config.yaml's sections, for Config(path)
	hostname string
	id       string
	etcdOK   atomic.Bool
	// the data plane's parts, set once they exist (plugins start before them and may ask
	// for the status at once: a metrics scrape)
	proxy atomic.Pointer[proxy.Server]
	snaps atomic.Pointer[snapshot.Compiler]

	mu      sync.Mutex
	started map[string]*startedPlugin // by plugin name
	failed  map[string]bool           // Start returned an error: routes naming it fail closed
	apis    atomic.Pointer[map[string]plugin.API]
}

// startedPlugin is what a plugin's Definition.Start returned; stopping, when set, is the
// pending close of a plugin just disabled (a re-enable within the grace cancels it).
type startedPlugin struct {
	shared   plugin.Shared
	stopping *time.Timer
}

func newNodeView(n *Node, cfg *conf.Config, dataDir string) (*nodeView, error) {
	v := &nodeView{n: n, started: map[string]*startedPlugin{}, failed: map[string]bool{}}
	v.hostname, _ = os.Hostname()
	id, err := nodeID(dataDir)
	if err != nil {
		return nil, err
	}
	v.id = id
	v.tree = configTree(cfg)
	empty := map[string]plugin.API{}
	v.apis.Store(&empty)
	return v, nil
}

// configTree is the configuration by config.yaml's section names, for plugins to read the
// keys they own (plugin_attr.<name>, apisix.proxy_cache ...).
func configTree(cfg *conf.Config) map[string]any {
	t := map[string]any{}
	maps.Copy(t, cfg.Extra)
	apisix := map[string]any{}
	maps.Copy(apisix, cfg.Apisix.Extra)
	apisix["enable_control"] = cfg.Apisix.EnableControl
	apisix["enable_http2"] = cfg.Apisix.EnableHTTP2
	ssl := map[string]any{}
	maps.Copy(ssl, cfg.Apisix.SSL.Extra)
	ssl["enable"] = cfg.Apisix.SSL.Enable
	listen := make([]any, 0, len(cfg.Apisix.SSL.Listen))
	for _, l := range cfg.Apisix.SSL.Listen {
		listen = append(listen, map[string]any{"ip": l.IP, "port": l.Port})
	}
	ssl["listen"] = listen
	apisix["ssl"] = ssl
	t["apisix"] = apisix
	if cfg.PluginAttr != nil {
		t["plugin_attr"] = cfg.PluginAttr
	}
	if cfg.NginxConfig != nil {
		t["nginx_config"] = cfg.NginxConfig
	}
	if cfg.Discovery != nil {
		t["discovery"] = cfg.Discovery
	}
	return t
}

// nodeID is APISIX's apisix_uid: generated once, kept in the data directory.
func nodeID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "apisix.uid")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return id, nil
}

func (v *nodeView) Config(path string) json.RawMessage {
	var cur any = v.tree
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return nil
	}
	return b
}

func (v *nodeView) Logger() *slog.Logger { return v.n.log }
func (v *nodeView) Hostname() string     { return v.hostname }
func (v *nodeView) Version() string      { return Version }
func (v *nodeView) ID() string           { return v.id }

func (v *nodeView) Status() plugin.NodeStatus {
	st := plugin.NodeStatus{EtcdReachable: v.etcdOK.Load()}
	if p := v.proxy.Load(); p != nil {
		st.Connections = p.Stats()
	}
	if c := v.snaps.Load(); c != nil {
		select {
		case <-c.Ready():
			st.Ready = true
		default:
		}
		if s := c.Load(); s != nil {
			st.ModifyIndexes = make(map[string]int64, len(s.ModifyIndexes)+3)
			var top int64
			for k, rev := range s.ModifyIndexes {
				st.ModifyIndexes[k] = rev
				top = max(top, rev)
			}
			st.ModifyIndexes["max_modify_index"] = top
			st.ModifyIndexes["prev_index"] = s.Revision
			st.ModifyIndexes["x_etcd_index"] = s.Revision
			for _, h := range snapshot.Health(s) {
				for _, n := range h.Nodes {
					st.UpstreamHealth = append(st.UpstreamHealth, plugin.UpstreamNodeHealth{
						Name: h.Name, IP: n.Host, Port: n.Port, Healthy: n.Healthy()})
				}
			}
		}
	}
	return st
}

func (v *nodeView) API(uri string) (plugin.API, bool) {
	a, ok := (*v.apis.Load())[uri]
	return a, ok
}

// probeEtcd keeps EtcdReachable current (apisix_etcd_reachable): a read every 5 s.
func (v *nodeView) probeEtcd(ctx context.Context, st store.Store, key string) {
	probe := func() {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := st.Get(pctx, key)
		v.etcdOK.Store(err == nil || errors.Is(err, store.ErrNotFound))
	}
	probe()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			probe()
		}
	}
}

// shared is snapshot.Options.Shared: the plugin's node-level state.
func (v *nodeView) shared(name string) any {
	v.mu.Lock()
	defer v.mu.Unlock()
	if sp := v.started[name]; sp != nil && sp.stopping == nil {
		return sp.shared
	}
	return nil
}

// runnable reports whether a plugin's node-level start did not fail.
func (v *nodeView) runnable(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return !v.failed[name]
}

// syncPlugins makes the started plugins match enabled: it starts the enabled plugins that
// have a Definition.Start and are not running (again those whose start failed before), keeps
// one disabled within the last grace, and stops those no longer enabled after grace, so
// requests on the snapshot that still uses them finish. Start runs outside the lock: the
// compiler and Admin checks keep reading while a plugin scans its disk or dials.
func (v *nodeView) syncPlugins(enabled []string, grace time.Duration) {
	want := map[string]bool{}
	for _, name := range enabled {
		want[name] = true
	}
	var toStart []*plugin.Definition
	v.mu.Lock()
	clear(v.failed)
	for name, sp := range v.started {
		switch {
		case !want[name] && sp.stopping == nil:
			sp.stopping = time.AfterFunc(grace, func() { v.stopLater(name, sp) })
		case want[name] && sp.stopping != nil && sp.stopping.Stop():
			sp.stopping = nil // re-enabled before its close ran
		}
	}
	for name := range want {
		if d, ok := plugin.Lookup(name); ok && d.Start != nil {
			if sp := v.started[name]; sp == nil || sp.stopping != nil {
				toStart = append(toStart, d)
			}
		}
	}
	v.mu.Unlock()

	for _, d := range toStart {
		sh, err := startPlugin(d, v)
		v.mu.Lock()
		if err != nil {
			v.n.log.Error("plugin not started: routes naming it fail closed", "plugin", d.Name, "error", err)
			v.failed[d.Name] = true
		} else {
			v.started[d.Name] = &startedPlugin{shared: sh}
		}
		v.mu.Unlock()
	}

	v.mu.Lock()
	apis := map[string]plugin.API{}
	for _, sp := range v.started {
		if p, ok := sp.shared.(plugin.APIProvider); ok && sp.stopping == nil {
			for _, a := range p.APIs() {
				apis[a.URI] = a
			}
		}
	}
	v.mu.Unlock()
	v.apis.Store(&apis)
}

// stopLater closes a disabled plugin's state once its grace ran out, unless it was replaced.
func (v *nodeView) stopLater(name string, sp *startedPlugin) {
	v.mu.Lock()
	if v.started[name] == sp {
		delete(v.started, name)
	}
	v.mu.Unlock()
	v.closeShared(name, sp.shared)
}

func startPlugin(d *plugin.Definition, v *nodeView) (sh plugin.Shared, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start panicked: %v", r)
		}
	}()
	sh, err = d.Start(v)
	if err == nil && sh == nil {
		err = errors.New("start returned no state")
	}
	return sh, err
}

func (v *nodeView) closeShared(name string, sh plugin.Shared) {
	if err := sh.Close(); err != nil {
		v.n.log.Warn("plugin stop", "plugin", name, "error", err)
	}
}

// stopPlugins closes every started plugin's state (node shutdown).
func (v *nodeView) stopPlugins() {
	v.mu.Lock()
	started := v.started
	v.started = map[string]*startedPlugin{}
	v.mu.Unlock()
	for name, sp := range started {
		if sp.stopping != nil && !sp.stopping.Stop() {
			continue // its close already ran
		}
		v.closeShared(name, sp.shared)
	}
}

// checkEnv is the Env an Admin API write's plugin conf is checked with: the node and the
// plugin's node-level state when it runs here (a control-plane node checks without them).
func (v *nodeView) checkEnv(name string) plugin.Env {
	var env plugin.Env
	if c := v.snaps.Load(); c != nil {
		if s := c.Load(); s != nil {
			env.Metadata = s.PluginMetadata[name]
		}
	}
	if sh := v.shared(name); sh != nil {
		env.Node, env.Shared = v, sh
	}
	return env
}
