// Command sluice is the Sluice API gateway: `sluice start`, `sluice validate`, `sluice version`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/sluicegw/sluice/internal/app"
	"github.com/sluicegw/sluice/internal/conf"
	"github.com/sluicegw/sluice/internal/netpoll"
	"github.com/sluicegw/sluice/plugins/all"
)

const usage = `Usage: sluice <command> [flags]

Commands:
  start     run the gateway in the foreground
  validate  check a config file and exit
  version   print the version

Run 'sluice <command> -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "start":
		return start(args[1:], stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "version", "-v", "--version":
		fmt.Fprintf(stdout, "sluice %s (Apache APISIX %s compatible; %s, netpoll %s)\n",
			app.Version, app.APISIXVersion, runtime.Version(), netpoll.Order())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// configFlag registers -c and --config for the same value.
func configFlag(fs *flag.FlagSet) *string {
	p := new(string)
	fs.StringVar(p, "c", "", "config file in APISIX's conf/config.yaml format")
	fs.StringVar(p, "config", "", "config file (same as -c)")
	return p
}

func loadConfig(path string, log *slog.Logger) (*conf.Config, error) {
	if path == "" {
		return conf.Default(), nil
	}
	cfg, warnings, err := conf.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("config: "+w.String(), "file", path)
	}
	return cfg, nil
}

func start(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	dataDir := fs.String("data-dir", "sluice-data", "directory for the embedded etcd and the generated admin key")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 2
	}
	cfg, err := loadConfig(*cfgPath, log)
	if err != nil {
		log.Error("invalid configuration", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("starting sluice", "version", app.Version, "netpoll", netpoll.Order(), "data_dir", *dataDir)
	err = app.Run(ctx, app.Options{Config: cfg, ConfigPath: *cfgPath, DataDir: *dataDir, Logger: log})
	// buffered log entries go out before the process ends (the proxy no longer adds any)
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if ferr := all.Shutdown(flushCtx); ferr != nil {
		log.Warn("log batches not all sent", "error", ferr)
	}
	cancel()
	if err != nil {
		log.Error("sluice stopped", "error", err)
		return 1
	}
	log.Info("sluice stopped")
	return 0
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "sluice validate: -c FILE is required")
		return 2
	}
	cfg, warnings, err := conf.Load(*cfgPath)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n", *cfgPath)
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, errors.New(`--log-format must be "text" or "json"`)
}
