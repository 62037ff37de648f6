package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/store"
	"github.com/sluicegw/sluice/internal/store/standalone"
	"github.com/sluicegw/sluice/plugin"
)

// pluginSet is the list of plugins enabled on this node: config.yaml's `plugins:` when given,
// else APISIX's default list, in both cases limited to the plugins this build registers.
type pluginSet struct {
	names atomic.Pointer[[]string]
}

func newPluginSet(configured []string, log *slog.Logger) *pluginSet {
	ps := &pluginSet{}
	ps.set(configured, log)
	return ps
}

// set replaces the enabled list; requests and validations already running keep the old one.
func (p *pluginSet) set(configured []string, log *slog.Logger) {
	names := resolvePlugins(configured, log)
	p.names.Store(&names)
}

// resolvePlugins is the enabled list for config.yaml's `plugins:` (nil: APISIX's defaults),
// limited to the plugins this build registers.
func resolvePlugins(configured []string, log *slog.Logger) []string {
	var names []string
	if configured == nil {
		for _, d := range plugin.All() {
			if d.DefaultEnabled {
				names = append(names, d.Name)
			}
		}
	} else {
		for _, name := range configured {
			if _, ok := plugin.Lookup(name); !ok {
				log.Warn("plugins: not available in this build, ignored", "plugin", name)
				continue
			}
			names = append(names, name)
		}
	}
	return names
}

// Enabled returns the enabled names sorted by priority, highest first.
func (p *pluginSet) Enabled() []string {
	names := *p.names.Load()
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	out := make([]string, 0, len(names))
	for _, d := range plugin.All() {
		if set[d.Name] {
			out = append(out, d.Name)
		}
	}
	return out
}

// IsEnabled reports whether name is enabled.
func (p *pluginSet) IsEnabled(name string) bool {
	for _, n := range *p.names.Load() {
		if n == name {
			return true
		}
	}
	return false
}

// reloadPlugins is PUT /apisix/admin/plugins/reload: like APISIX, it re-reads the `plugins`
// list of the node's config file, then republishes <prefix>/plugins. A file that no longer
// parses leaves the current list in place.
func (n *Node) reloadPlugins(configPath string) error {
	n.reloadMu.Lock() // the Admin and control APIs may both ask
	defer n.reloadMu.Unlock()
	if configPath != "" {
		cfg, _, err := conf.Load(configPath)
		if err != nil {
			n.log.Error("plugins reload: config not reloaded", "error", err)
			return fmt.Errorf("reload %s: %w", configPath, err)
		}
		list := cfg.Plugins
		if fs, ok := n.store.(*standalone.Store); ok && fs.Plugins() != nil {
			list = fs.Plugins() // standalone: apisix.yaml's list wins, as at start
		}
		names := resolvePlugins(list, n.log)
		if snaps := n.view.snaps.Load(); snaps != nil {
			// newly enabled plugins start before any build can see them enabled; a stopped
			// plugin's state outlives its instances, which close CloseGrace after the
			// snapshot without them is published
			n.view.syncPlugins(names, 15*time.Second)
			n.plugins.names.Store(&names)
			snaps.Refresh()
		} else {
			n.plugins.names.Store(&names)
		}
	}
	n.log.Info("plugins reloaded", "enabled", len(n.plugins.Enabled()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.publishPlugins(ctx)
}

// publishPlugins writes <prefix>/plugins the way APISIX does at start and on reload, so tools
// that read it (dashboards, other nodes) see this node's plugin list.
func (n *Node) publishPlugins(ctx context.Context) error {
	type entry struct {
		Name   string `json:"name"`
		Stream bool   `json:"stream,omitempty"`
	}
	var list []entry
	for _, name := range n.plugins.Enabled() {
		list = append(list, entry{Name: name})
	}
	streamOn := streamPluginSet(n.cfg.StreamPlugins)
	for _, d := range plugin.All() {
		if d.Stream && streamOn(d.Name) {
			list = append(list, entry{Name: d.Name, Stream: true})
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if _, _, err := n.store.Put(ctx, n.cfg.Deployment.Etcd.Prefix+"/plugins", b, store.WriteOptions{}); err != nil {
		if errors.Is(err, standalone.ErrReadOnly) {
			return nil // standalone: the store is the file, read only
		}
		return fmt.Errorf("publish plugin list: %w", err)
	}
	return nil
}
