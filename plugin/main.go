// Command audisp-backlog is an auditd plugin that reports the peak depth of
// the kernel's audit queue in every interval, so that audit_backlog_limit
// can be sized from what really happened instead of from instantaneous
// polls that miss micro-bursts.
//
// auditd starts it from /etc/audit/plugins.d/audisp-backlog.conf with the
// record stream on stdin. See audisp-backlog(8).
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
	"reflect"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
)

// Set at build time by the Makefile.
var (
	version = "0.0.0-dev"
	commit  = "unknown"
)

// shutdownBudget bounds the final flush: auditd 4.2 waits for its plugins on
// reload, and a blackholed collector must not make it wait long.
const shutdownBudget = 1500 * time.Millisecond

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	config     string
	foreground bool
	check      bool
	version    bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("audisp-backlog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", conf.DefaultPath, "configuration `file`")
	fs.BoolVar(&o.foreground, "foreground", false, "log to stderr instead of syslog")
	fs.BoolVar(&o.check, "check", false, "check the configuration, the kernel and the emitters, print a report and exit")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: audisp-backlog [-foreground] [-check] [-config FILE | FILE]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	// auditd passes the plugin entry's args: accept a bare path as well.
	switch fs.NArg() {
	case 0:
	case 1:
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "config" })
		if set {
			return o, fmt.Errorf("config file given twice: -config %s and %s", o.config, fs.Arg(0))
		}
		o.config = fs.Arg(0)
	default:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args()[1:])
	}
	return o, nil
}

// run is the whole program; it returns the exit status. Errors are logged
// here, once.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "audisp-backlog:", err)
		return 2
	}
	if o.version {
		fmt.Fprintf(stdout, "audisp-backlog %s (commit %s, %s)\n", version, commit, runtime.Version())
		return 0
	}
	if o.check {
		return check(ctx, o.config, stdout)
	}

	level := new(slog.LevelVar)
	logger, err := newLogger(o.foreground, stderr, level)
	if err != nil {
		logger.Warn("syslog unavailable, logging to stderr", "err", err)
	}
	if err := daemon(ctx, o.config, stdin, logger, level); err != nil {
		logger.Error("exiting", "err", err)
		return 1
	}
	return 0
}

// daemon runs the plugin until SIGTERM, SIGINT or the end of stdin.
func daemon(ctx context.Context, path string, stdin io.Reader, logger *slog.Logger, level *slog.LevelVar) error {
	// Signals first: SIGHUP's default action is to exit, and auditd may
	// send one (its own reload) while the plugin is still starting. One
	// that comes now is taken as a reload once the loop runs.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := conf.Load(path)
	if err != nil {
		return err
	}
	level.Set(cfg.LogLevel)
	logger.Info("starting", "version", version, "config", path, "pid", os.Getpid())

	client, err := auditclient.Open()
	if err != nil {
		return err
	}
	st, err := client.Status()
	if err == nil && os.Geteuid() == 0 {
		err = dropPrivileges()
		if err == nil {
			logger.Debug("dropped every capability but CAP_AUDIT_CONTROL; no_new_privs set")
		}
	}
	if err != nil {
		client.Close()
		return err
	}
	hz, hzSource, err := kernelHZ("")
	if err != nil {
		logger.Warn("backlog_wait_time_actual is counted in kernel ticks", "err", err)
	} else {
		logger.Debug("kernel tick rate", "hz", hz, "from", hzSource)
	}
	s := service{
		path: path, cfg: cfg, stdin: stdin,
		kernel: client, status: st, hz: hz,
		logger: logger, level: level,
		hup: hup, stopSignals: stop,
	}
	return s.serve(ctx)
}

// service is what serve runs on, set up by daemon.
type service struct {
	path   string       // the config file, read again on SIGHUP
	cfg    *conf.Config // as loaded from path
	stdin  io.Reader    // auditd's record stream
	kernel kernel       // an open client, taken over by serve
	status auditclient.Status
	hz     uint32 // kernel ticks per second
	logger *slog.Logger
	level  *slog.LevelVar

	hup         <-chan os.Signal // SIGHUP: reload
	stopSignals func()           // lets a second SIGTERM kill once shutdown starts
}

// serve runs the plugin until ctx ends (SIGTERM, SIGINT) or stdin does,
// reloading on every signal from s.hup. It takes s.kernel over: the loop's
// kernel worker closes it (if it is an io.Closer) when its last call
// returns, which on shutdown may be after serve has returned.
func (s service) serve(ctx context.Context) error {
	logger := s.logger
	out, err := emit.Open(ctx, *s.cfg, version, logger)
	if err != nil {
		closeKernel(s.kernel, logger)
		return err
	}
	stats := new(streamStats)
	l, err := newLoop(s.kernel, out, stats, logger, settingsOf(s.cfg), s.status, s.hz, time.Now)
	if err != nil {
		closeKernel(s.kernel, logger)
		closeEmitters(context.WithoutCancel(ctx), out, logger)
		return err
	}

	// The reader ends at EOF (auditd closing the socket: stop, or reload
	// from auditd 4.2 on) or with the process: a blocking read of stdin
	// cannot be interrupted, so nobody waits for it.
	resets := make(chan resetRecord, 64)
	stdinDone := make(chan error, 1)
	go func() { stdinDone <- readRecords(s.stdin, stats, resets) }()

	var closing sync.WaitGroup // old emitters being closed after reloads
	cur := s.cfg
	reload := func() {
		next, err := conf.Load(s.path)
		if err != nil {
			logger.Error("reload: keeping the running configuration", "err", err)
			return
		}
		// Reopening emitters restarts their state (DogStatsD count
		// baselines, OTLP's running total of resets and its start
		// time), so they are kept when their settings did not change.
		nextOut := l.out
		if !sameEmitters(cur, next) {
			if nextOut, err = emit.Open(ctx, *next, version, logger); err != nil {
				logger.Error("reload: keeping the running configuration", "err", err)
				return
			}
		}
		old, err := l.apply(settingsOf(next), nextOut)
		if err != nil {
			if nextOut != old {
				closeEmitters(ctx, nextOut, logger)
			}
			logger.Error("reload: keeping the running configuration", "err", err)
			return
		}
		cur = next
		s.level.Set(next.LogLevel)
		if old != nextOut {
			closing.Go(func() { closeEmitters(ctx, old, logger) })
		}
		logger.Info("configuration reloaded", "config", s.path, "emitters_reopened", old != nextOut)
	}

	why := l.run(ctx, resets, stdinDone, s.hup, reload)
	s.stopSignals() // a second SIGTERM now kills
	logger.Info("stopping", "why", why)

	// The final reset waits for the kernel within part of the budget
	// (kernelShutdownWait); the emitters flush within the rest.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBudget)
	defer cancel()
	l.finish(fctx)
	closeEmitters(fctx, l.out, logger)
	closing.Wait()
	return nil
}

// closeKernel closes k if it is an io.Closer.
func closeKernel(k kernel, logger *slog.Logger) {
	if c, ok := k.(io.Closer); ok {
		if err := c.Close(); err != nil {
			logger.Warn("closing the audit netlink socket", "err", err)
		}
	}
}

// closeEmitters closes out within the shutdown budget, or by ctx's deadline
// if that comes first (the final flush shares its budget with the final
// reset). ctx's cancellation is ignored: after SIGTERM the signal context
// is cancelled, yet emitters still get their flush.
func closeEmitters(ctx context.Context, out emitter, logger *slog.Logger) {
	deadline := time.Now().Add(shutdownBudget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		logger.Warn("closing emitters", "err", err)
	}
}

// sameEmitters reports whether a and b configure the emitters alike: the
// same emitters, queue and emitter settings, and the same keys left to the
// environment.
func sameEmitters(a, b *conf.Config) bool {
	if !slices.Equal(a.Emitters, b.Emitters) || a.EmitQueue != b.EmitQueue ||
		!reflect.DeepEqual(a.OTLP, b.OTLP) || !reflect.DeepEqual(a.StatsD, b.StatsD) {
		return false
	}
	for _, k := range conf.Keys() {
		if k.Section != conf.SectionGeneral && a.IsSet(k.Name) != b.IsSet(k.Name) {
			return false
		}
	}
	return true
}
