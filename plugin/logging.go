package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"log/syslog"
)

// newLogger returns the plugin's logger. auditd starts plugins with stdout
// and stderr on /dev/null, so logs go to syslog (facility daemon, tag
// audisp-backlog) unless foreground is set, when they go to stderr for a
// person at a terminal. If syslog cannot be reached, the logger writes to
// stderr and the error says why.
func newLogger(foreground bool, stderr io.Writer, level *slog.LevelVar) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	if foreground {
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	}
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "audisp-backlog")
	if err != nil {
		return slog.New(slog.NewTextHandler(stderr, opts)), err
	}
	return slog.New(newSyslogHandler(w, level)), nil
}

// syslogHandler sends each record as one syslog message at the priority of
// its level, formatted as `msg="..." key=value ...` (syslog adds the time
// and the priority). It routes records to one text handler per priority,
// so WithAttrs and WithGroup keep slog's own semantics.
type syslogHandler struct {
	level                     slog.Leveler
	err, warning, info, debug slog.Handler
}

func newSyslogHandler(w *syslog.Writer, level slog.Leveler) *syslogHandler {
	opts := &slog.HandlerOptions{
		Level: slog.LevelDebug, // filtered by Enabled
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	}
	text := func(send func(string) error) slog.Handler {
		return slog.NewTextHandler(priorityWriter(send), opts)
	}
	return &syslogHandler{
		level:   level,
		err:     text(w.Err),
		warning: text(w.Warning),
		info:    text(w.Info),
		debug:   text(w.Debug),
	}
}

// priorityWriter sends each write (a text handler writes one record per
// call) as one syslog message.
type priorityWriter func(string) error

func (send priorityWriter) Write(p []byte) (int, error) {
	if err := send(string(bytes.TrimSuffix(p, []byte{'\n'}))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError:
		return h.err.Handle(ctx, r)
	case r.Level >= slog.LevelWarn:
		return h.warning.Handle(ctx, r)
	case r.Level >= slog.LevelInfo:
		return h.info.Handle(ctx, r)
	default:
		return h.debug.Handle(ctx, r)
	}
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &syslogHandler{h.level, h.err.WithAttrs(as), h.warning.WithAttrs(as), h.info.WithAttrs(as), h.debug.WithAttrs(as)}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{h.level, h.err.WithGroup(name), h.warning.WithGroup(name), h.info.WithGroup(name), h.debug.WithGroup(name)}
}
