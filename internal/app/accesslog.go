package app

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sluicegw/sluice/internal/accesslog"
)

// openAccessLog opens the gateway's access log as nginx_config.http configures it
// (enable_access_log, default on; access_log, default logs/access.log — a relative path is
// under the data directory; access_log_format, access_log_format_escape, access_log_buffer).
// SIGUSR1 reopens it after logrotate moved it, as it makes nginx do. Nil when off.
func (n *Node) openAccessLog(ctx context.Context, httpConf map[string]any) (*accesslog.Log, error) {
	if on, ok := httpConf["enable_access_log"].(bool); ok && !on {
		return nil, nil
	}
	path := stringOf(httpConf["access_log"])
	switch path {
	case "off":
		return nil, nil
	case "":
		path = "logs/access.log"
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(n.dataDir, path)
	}
	buf, _ := httpConf["access_log_buffer"].(int)
	l, err := accesslog.Open(accesslog.Options{
		Path:   path,
		Format: stringOf(httpConf["access_log_format"]),
		Escape: stringOf(httpConf["access_log_format_escape"]),
		Buffer: buf,
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("access log", "path", path)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		defer signal.Stop(usr1)
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				if err := l.Reopen(); err != nil {
					n.log.Error("access log reopen", "error", err)
				} else {
					n.log.Info("access log reopened", "path", path)
				}
			}
		}
	}()
	return l, nil
}
