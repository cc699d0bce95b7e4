package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak"
)

// reloader applies the configuration file again on SIGHUP. A file that
// does not load, or settings the loop cannot take, leave the running
// configuration in force.
type reloader struct {
	path   string
	cfg    *conf.Config // in force
	out    *emit.Set    // the emitters in force
	loop   *peak.Loop
	logger *slog.Logger
	level  *slog.LevelVar

	// sandbox refuses a configuration that needs files Landlock does not
	// let the plugin read; nil without Landlock.
	sandbox *sandbox
}

func (r *reloader) reload(ctx context.Context) {
	if r.sandbox != nil {
		for _, f := range r.sandbox.unreadable() {
			r.logger.Warn("sandbox: a file was replaced since start and cannot be read until the plugin restarts (service auditd restart)", "file", f)
		}
	}
	next, err := conf.Load(r.path)
	if err == nil && r.sandbox != nil {
		err = r.sandbox.check(next, os.Getenv)
	}
	if err != nil {
		r.logger.Error("reload: keeping the running configuration", "err", err)
		return
	}
	// Reopening emitters restarts their state (DogStatsD count
	// baselines, connections), so they are kept when their settings did
	// not change.
	out := r.out
	if !r.cfg.SameEmitters(next) {
		if out, err = emit.Open(ctx, *next, version, r.logger); err != nil {
			r.logger.Error("reload: keeping the running configuration", "err", err)
			return
		}
	}
	if _, err := r.loop.Apply(ctx, settingsOf(next), out); err != nil {
		if out != r.out {
			closeEmitters(ctx, out, r.logger)
		}
		r.logger.Error("reload: keeping the running configuration", "err", err)
		return
	}
	old := r.out
	r.cfg, r.out = next, out
	r.level.Set(next.LogLevel)
	if old != out {
		// Within closeBudget; an exit meanwhile does not wait for it.
		go closeEmitters(ctx, old, r.logger)
	}
	r.logger.Info("configuration reloaded", "config", r.path, "emitters_reopened", old != out)
}

// closeEmitters closes out within closeBudget, or by ctx's deadline if
// that comes first (on exit, exitBudget). ctx's cancellation is ignored:
// after SIGTERM the signal context is cancelled, yet emitters still get
// their flush.
func closeEmitters(ctx context.Context, out peak.Emitter, logger *slog.Logger) {
	deadline := time.Now().Add(closeBudget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		logger.Warn("closing emitters", "err", err)
	}
}
