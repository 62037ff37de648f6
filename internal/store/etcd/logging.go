package etcd

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger (what etcd's server and client log through) that forwards
// entries at or above min into logger, so etcd's output lands in Sluice's structured log.
func newZapLogger(logger *slog.Logger, min zapcore.Level) *zap.Logger {
	return newZapLoggerClosing(logger, min, nil)
}

// newZapLoggerClosing is newZapLogger whose errors become debug lines once closing is set:
// etcd reports its own listeners closing on a clean stop as "serving ... failed".
func newZapLoggerClosing(logger *slog.Logger, min zapcore.Level, closing *atomic.Bool) *zap.Logger {
	if logger == nil {
		logger = slog.Default()
	}
	return zap.New(&slogCore{logger: logger.With("component", "etcd"), min: min, closing: closing})
}

// slogCore is a zapcore.Core writing into a slog.Logger.
type slogCore struct {
	logger  *slog.Logger
	min     zapcore.Level
	closing *atomic.Bool // nil: never
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{logger: c.logger.With(attrs(fields)...), min: c.min, closing: c.closing}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	args := attrs(fields)
	if e.LoggerName != "" {
		args = append(args, "logger", e.LoggerName)
	}
	level := slogLevel(e.Level)
	if c.closing != nil && c.closing.Load() && level > slog.LevelDebug {
		level = slog.LevelDebug
	}
	c.logger.Log(context.Background(), level, e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// attrs flattens zap fields through zap's own encoder, which knows every field type.
func attrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, k, v)
	}
	return out
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l >= zapcore.WarnLevel:
		return slog.LevelWarn
	case l >= zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
