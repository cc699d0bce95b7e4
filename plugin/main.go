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
	"strings"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/auditdstate"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak"
	"github.com/audisp-backlog/audisp-backlog/plugin/records"
	"github.com/audisp-backlog/audisp-backlog/pluginsd"
)

// Set at build time by the Makefile.
var (
	version = "0.0.0-dev"
	commit  = "unknown"
	// bpfPrograms = "off" (-ldflags -X main.bpfPrograms=off) builds a plugin that never
	// loads an eBPF program: the tests' build, which runs on hosts whose
	// kernel must not be touched. method = auto then samples.
	bpfPrograms = "on"
)

// The exit path's bounds. auditd 4.2 stops every plugin on each reload:
// it closes the plugin's stdin, sleeps 50 ms, sends SIGTERM and waits for
// it, reading nothing from the kernel meanwhile. A plugin gone within
// those 50 ms costs auditd nothing more than `cat` would.
const (
	// exitBudget bounds everything after the stop: the wait for a reset
	// in flight, then the emitters' flush. What a collector does not take
	// by then is dropped and counted; no peak is lost with it that the
	// kernel still holds (the mark is only read by a reset).
	exitBudget = 40 * time.Millisecond
	// exitResetWait bounds the wait for the ack of a reset in flight,
	// whose peak has left the kernel's mark.
	exitResetWait = 20 * time.Millisecond
	// closeBudget bounds closing emitters replaced by a reload, in the
	// background, and -check's.
	closeBudget = 1500 * time.Millisecond
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	config     string
	entry      string
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
	fs.BoolVar(&o.check, "check", false, "check the configuration, auditd's entry for the plugin, the kernel and the emitters, print a report and exit")
	fs.StringVar(&o.entry, "entry", pluginsd.DefaultPath, "auditd's plugin entry `file` that -check checks")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: audisp-backlog [-foreground] [-config FILE | FILE]\n       audisp-backlog -check [-config FILE] [-entry FILE]\n")
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
		return check(ctx, o.config, o.entry, stdout)
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
	emit.RouteOTelLogs(logger)

	client, err := auditclient.Open()
	if err != nil {
		return err
	}
	st, err := client.Status()
	var prb *peak.Probe
	if err == nil && peak.WantsProbe(cfg.Method, st) {
		// Now or never: attaching needs privileges the plugin drops next.
		prb, err = openProbe(cfg.Method, logger)
	}
	if err == nil && os.Geteuid() == 0 {
		err = dropPrivileges()
		if err == nil {
			logger.Debug("dropped every capability but CAP_AUDIT_CONTROL; no_new_privs set")
		}
	}
	if err != nil {
		if prb != nil {
			err = errors.Join(err, prb.Close())
		}
		return errors.Join(err, client.Close())
	}
	hz, hzSource, err := auditclient.TickRate("")
	if err != nil {
		logger.Warn("backlog_wait_time_actual is counted in kernel ticks", "err", err)
	} else {
		logger.Debug("kernel tick rate", "hz", hz, "from", hzSource)
	}

	// The sandbox comes last: whatever start-up needs that the sandbox
	// refuses (an eBPF probe: bpf(); capset) must be done by now.
	sb := newSandbox(path, cfg, os.Getenv)
	done, err := sb.apply()
	if err != nil {
		if prb != nil {
			err = errors.Join(err, prb.Close())
		}
		return errors.Join(err, client.Close())
	}
	if done.landlockABI == 0 {
		logger.Warn("sandbox: this kernel has no Landlock (Linux 5.13 or later, with landlock in its lsm= list): the files the plugin may read are not confined")
	}
	if !done.seccomp {
		logger.Warn("sandbox: this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER): the system calls the plugin may make are not confined")
	}
	logger.Info("sandbox: confined", "landlock_abi", done.landlockABI, "seccomp_denied", done.denied)
	logger.Debug("sandbox: readable", "paths", strings.Join(sb.paths(), " "))

	s := service{
		path: path, cfg: cfg, stdin: stdin,
		kernel: client, status: st, hz: hz,
		logger: logger, level: level,
		hup: hup, stopSignals: stop,
	}
	if done.landlockABI > 0 {
		s.sandbox = sb
	}
	if st.HasMaxDepth {
		s.mark = peak.Mark{Resetter: client}
	}
	s.probe = prb
	return s.serve(ctx)
}

// openProbe attaches the eBPF probe of the kernel's audit queue. Under
// method = auto a probe that cannot be attached is no error: the plugin
// samples instead, and says why.
func openProbe(method string, logger *slog.Logger) (*peak.Probe, error) {
	var p *probe.Probe
	err := errBPFOff
	if bpfPrograms != "off" {
		p, err = probe.Open(logger)
	}
	if err != nil {
		if method == conf.MethodEBPF {
			return nil, fmt.Errorf("method = ebpf: %w", err)
		}
		logger.Warn("the eBPF probe of the audit queue cannot be attached, so the peak is sampled (bursts shorter than sample_interval can be missed); audisp-backlog -check says more", "why", err.Error())
		return nil, nil
	}
	info := p.Info()
	return &peak.Probe{Probe: p, RetryHold: info.RetryHold, LostByCause: info.LostByCause}, nil
}

// service is what serve runs on, set up by daemon.
type service struct {
	path   string       // the config file, read again on SIGHUP
	cfg    *conf.Config // as loaded from path
	stdin  io.Reader    // auditd's record stream
	kernel peak.Kernel  // an open client, taken over by serve
	mark   peak.Source  // the kernel's high-water mark, nil without one
	probe  *peak.Probe  // the eBPF probe, nil when not attached; taken over by serve
	status auditclient.Status
	hz     uint32 // kernel ticks per second
	logger *slog.Logger
	level  *slog.LevelVar

	// sandbox says what a reload may read; nil without Landlock.
	sandbox *sandbox

	hup         <-chan os.Signal // SIGHUP: reload
	stopSignals func()           // lets a second SIGTERM kill once shutdown starts
}

// serve runs the plugin until ctx ends (SIGTERM, SIGINT) or stdin does,
// reloading on every signal from s.hup. It takes s.kernel over: the loop's
// kernel worker closes it when its last call returns, which on shutdown
// may be after serve has returned.
func (s service) serve(ctx context.Context) error {
	logger := s.logger
	out, err := emit.Open(ctx, *s.cfg, version, logger)
	if err != nil {
		return errors.Join(err, s.closeKernel())
	}
	stream := new(records.Counts)
	l, err := peak.New(peak.Config{
		Kernel: s.kernel, Mark: s.mark, Probe: s.probe, Out: out, Stream: stream,
		Logger: logger, Now: time.Now, HZ: s.hz,
		Settings: settingsOf(s.cfg), Status: s.status,
		// A report older than two intervals is stale: auditd writes it
		// every report_interval, which should be at most the interval.
		State: auditdstate.NewReader("/", 2*s.cfg.Interval),
	})
	if err != nil {
		closeEmitters(context.WithoutCancel(ctx), out, logger)
		return errors.Join(err, s.closeKernel())
	}

	// The reader ends at EOF (auditd closing the socket: stop, or reload
	// from auditd 4.2 on) or with the process: a blocking read of stdin
	// cannot be interrupted, so nobody waits for it.
	resets := make(chan records.Reset, 64)
	stdinDone := make(chan error, 1)
	go func() { stdinDone <- records.Read(s.stdin, stream, resets) }()
	stopped := make(chan string, 1)
	go func() { stopped <- l.Run(ctx, resets, stdinDone) }()

	r := &reloader{path: s.path, cfg: s.cfg, out: out, loop: l, sandbox: s.sandbox, logger: logger, level: s.level}
	var why string
	for why == "" {
		select {
		case why = <-stopped:
		case <-s.hup:
			r.reload(ctx)
		}
	}
	s.stopSignals() // a second SIGTERM now kills
	logger.Info("stopping", "why", why)

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exitBudget)
	defer cancel()
	l.Finish(fctx, exitResetWait)
	// The emitters deliver what is left; closing their connections is not
	// waited for: the process exits next, and its sockets close with it.
	// That close made most of what the exit added to an auditd 4.2
	// reload (emit.Set.Flush, e2e/README.md).
	if err := r.out.Flush(fctx); err != nil {
		logger.Warn("flushing emitters", "err", err)
	}
	go closeEmitters(context.WithoutCancel(ctx), r.out, logger)
	return nil
}

// errBPFOff is openProbe's error in a build made with bpfPrograms = "off".
var errBPFOff = errors.New("this build of the plugin never loads eBPF programs (built with -X main.bpfPrograms=off, as its tests are)")

// closeKernel closes the kernel client and the probe, when serve fails
// before the loop took them over.
func (s service) closeKernel() error {
	err := s.kernel.Close()
	if s.probe != nil {
		err = errors.Join(err, s.probe.Close())
	}
	return err
}

// settingsOf are the parts of c the interval loop runs on.
func settingsOf(c *conf.Config) peak.Settings {
	return peak.Settings{
		Interval:       c.Interval,
		SampleInterval: c.SampleInterval,
		RecordWait:     c.RecordWait,
		Method:         c.Method,
	}
}
