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
	"runtime"
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
	return serve(ctx, path, cfg, stdin, client, st, hz, logger, level)
}

// serve runs the plugin on an open kernel client k, whose status st was just
// read, until SIGTERM, SIGINT or the end of stdin; it reloads path on
// SIGHUP. It takes k over: k is closed (if it is an io.Closer) by the
// loop's kernel worker when its last call returns, which on shutdown may be
// after serve has returned.
func serve(ctx context.Context, path string, cfg *conf.Config, stdin io.Reader, k kernel, st auditclient.Status, hz uint32, logger *slog.Logger, level *slog.LevelVar) error {
	out, err := emit.Open(ctx, *cfg, version, logger)
	if err != nil {
		closeKernel(k, logger)
		return err
	}
	stats := new(streamStats)
	l, err := newLoop(k, out, stats, logger, settingsOf(cfg), st, hz, time.Now)
	if err != nil {
		closeKernel(k, logger)
		closeEmitters(context.WithoutCancel(ctx), out, logger)
		return err
	}

	// The reader ends at EOF (auditd closing the socket: stop, or reload
	// from auditd 4.2 on) or with the process: a blocking read of stdin
	// cannot be interrupted, so nobody waits for it.
	resets := make(chan resetRecord, 64)
	stdinDone := make(chan error, 1)
	go func() { stdinDone <- readRecords(stdin, stats, resets) }()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var closing sync.WaitGroup // old emitters being closed after reloads
	reload := func() {
		next, err := conf.Load(path)
		if err != nil {
			logger.Error("reload: keeping the running configuration", "err", err)
			return
		}
		nextOut, err := emit.Open(ctx, *next, version, logger)
		if err != nil {
			logger.Error("reload: keeping the running configuration", "err", err)
			return
		}
		old, err := l.apply(settingsOf(next), nextOut)
		if err != nil {
			closeEmitters(ctx, nextOut, logger)
			logger.Error("reload: keeping the running configuration", "err", err)
			return
		}
		level.Set(next.LogLevel)
		closing.Go(func() { closeEmitters(ctx, old, logger) })
		logger.Info("configuration reloaded", "config", path)
	}

	why := l.run(ctx, resets, stdinDone, hup, reload)
	stop() // a second SIGTERM now kills
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

// closeEmitters closes out within the shutdown budget.
func closeEmitters(ctx context.Context, out emitter, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBudget)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		logger.Warn("closing emitters", "err", err)
	}
}
