package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/auditdstate"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak"
	"github.com/audisp-backlog/audisp-backlog/plugin/sizing"
	"github.com/audisp-backlog/audisp-backlog/pluginsd"
)

// checkTimeout bounds each emitter's probe in -check.
const checkTimeout = 5 * time.Second

// check validates the configuration and auditd's entry for the plugin,
// probes the kernel read-only (AUDIT_GET, never a reset) and tries each
// configured emitter, printing a short report for a person. It returns the
// exit status: 0 when the plugin would run and deliver, 1 otherwise.
func check(ctx context.Context, path, entry string, w io.Writer) int {
	r := &report{w: w}
	fmt.Fprintf(w, "audisp-backlog %s\n", version)

	cfg := checkConfig(r, path)
	checkEntry(r, entry, path)
	st, ok := checkKernel(r, cfg)
	checkState(r)
	if cfg != nil {
		checkSandbox(r, path, cfg)
		checkEmitters(ctx, r, cfg)
	}
	if ok {
		r.note("sizing", checkFigures(st).Advice())
	}

	if r.failures > 0 {
		fmt.Fprintf(w, "%d problem%s found\n", r.failures, plural(r.failures))
		return 1
	}
	fmt.Fprintln(w, "all checks passed")
	return 0
}

// checkConfig loads the configuration file and reports it: each problem
// counts, and a plugin entry given by mistake is said to be one.
func checkConfig(r *report, path string) *conf.Config {
	cfg, err := conf.Load(path)
	if err == nil {
		r.ok("config", path)
		var b strings.Builder
		if _, err := cfg.WriteTo(&b); err != nil {
			r.fail("config", "effective configuration", err)
		}
		r.detail(b.String())
		return cfg
	}
	if f, ferr := os.Open(path); ferr == nil {
		isEntry := pluginsd.LooksLikeEntry(f)
		f.Close()
		if isEntry {
			r.fail("config", path, fmt.Errorf("this is an auditd plugin entry (plugins.d), not audisp-backlog's configuration; its args name the configuration, by default %s: audisp-backlog -check -config %s", conf.DefaultPath, conf.DefaultPath))
			return nil
		}
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		r.failN("config", path, len(joined.Unwrap()), err)
	} else {
		r.fail("config", path, err)
	}
	return nil
}

// checkEntry checks auditd's plugin entry and the program it names, by
// auditd's own rules, and that it runs this configuration.
func checkEntry(r *report, entry, configPath string) {
	e, probs, err := pluginsd.Check(entry)
	switch {
	case errors.Is(err, fs.ErrNotExist) && entry == pluginsd.DefaultPath:
		r.ok("entry", entry+" (none: auditd does not know the plugin; the packages install it)")
		return
	case err != nil:
		r.fail("entry", entry, err)
		return
	}
	for _, p := range probs {
		r.fail("entry", entry, errors.New(p.String()))
	}
	if len(probs) > 0 {
		return
	}
	state := "active = yes: auditd starts the plugin"
	if !e.Active {
		state = "active = no: auditd does not start the plugin; set active = yes there and restart auditd (service auditd restart)"
	}
	r.ok("entry", entry)
	r.detail(state)
	if e.Format != "string" {
		r.fail("entry", entry, fmt.Errorf("format = %s: audisp-backlog reads format = string", e.Format))
	}
	if self, err := os.Executable(); err == nil && e.Active && !sameFile(self, e.Path) {
		r.detail(fmt.Sprintf("path = %s, not this program (%s)", e.Path, self))
	}
	if args := entryConfig(e.Args); !sameFile(args, configPath) {
		r.detail(fmt.Sprintf("its args give the configuration %s, not %s", args, configPath))
	}
}

// entryConfig is the configuration file an entry's args give the plugin.
func entryConfig(args []string) string {
	if i := slices.Index(args, "-config"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return conf.DefaultPath
}

func sameFile(a, b string) bool {
	fa, erra := os.Stat(a)
	fb, errb := os.Stat(b)
	if erra != nil || errb != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return os.SameFile(fa, fb)
}

// checkKernel reads the audit status once and says what it means for the
// figures, and which method would run.
func checkKernel(r *report, cfg *conf.Config) (auditclient.Status, bool) {
	st, err := probeKernel()
	if err != nil {
		r.fail("kernel", "audit netlink", err)
		return st, false
	}
	r.ok("kernel", fmt.Sprintf("audit enabled=%d, backlog %d of limit %d, lost %d, backlog_wait_time_actual %d ticks",
		st.Enabled, st.Backlog, st.BacklogLimit, st.Lost, st.BacklogWaitTimeActual))
	if st.Enabled == 0 {
		r.detail(peak.Disabled)
	}
	if st.HasMaxDepth {
		r.detail(fmt.Sprintf("backlog_max_depth supported (high-water mark now %d)", st.MaxDepth))
	} else {
		r.detail("backlog_max_depth not supported by this kernel")
	}
	haveProbe := false
	if cfg != nil && peak.WantsProbe(cfg.Method, st) {
		haveProbe = checkProbe(r, cfg.Method)
	}
	if cfg != nil {
		m, err := peak.Resolve(cfg.Method, st, haveProbe)
		switch {
		case errors.Is(err, peak.ErrNoProbe):
			// The probe's line above counted it, with the reason.
		case err != nil:
			r.fail("method", cfg.Method, err)
		default:
			r.ok("method", fmt.Sprintf("%s (method = %s)", m, cfg.Method))
		}
	}
	if hz, src, err := auditclient.TickRate(""); err != nil {
		r.detail(fmt.Sprintf("wait time: %v", err))
	} else {
		r.detail(fmt.Sprintf("wait time: kernel HZ %d (from %s)", hz, src))
	}
	return st, true
}

// checkProbe says whether the eBPF probe could be attached, without
// attaching it (probe.Check), and counts it a problem when the method
// requires it. It returns whether the probe would attach.
func checkProbe(r *report, method string) bool {
	rep, err := probe.Check()
	if bpfPrograms == "off" {
		err = errors.Join(err, errBPFOff)
	}
	switch {
	case err == nil:
		r.ok("probe", "eBPF: "+rep.String())
		return true
	case method == conf.MethodEBPF:
		r.fail("probe", "eBPF: "+rep.String(), err)
	default:
		r.note("probe", fmt.Sprintf("the eBPF probe is not usable, so the peak is sampled (bursts shorter than sample_interval can be missed): %v; %s", err, rep.String()))
	}
	return false
}

// checkState reads auditd's state report, as the plugin would, and says
// what it holds or why it will not be used. Not a failure either way: the
// plugin runs without it.
func checkState(r *report) {
	rep, err := auditdstate.Read("/")
	if err != nil {
		r.note("auditd", "state report not used: "+err.Error())
		return
	}
	age := time.Since(rep.ModTime).Round(time.Second)
	text := fmt.Sprintf("state report %s (auditd %s, written %s ago): queue to plugins %s of %s, most %s, overflow %s",
		rep.Path, rep.Version, age, figure(rep.QueueDepth), figure(rep.QueueSize), figure(rep.QueueMaxDepth), figure(rep.QueueOverflow))
	r.ok("auditd", text)
	r.detail("the plugin uses a report at most two intervals old: set report_interval (auditd 4.0.5 and later) to at most the plugin's interval")
}

func figure(f auditdstate.Figure) string {
	if !f.OK {
		return "?"
	}
	return fmt.Sprint(f.Value)
}

// checkSandbox says what the daemon confines itself to after start-up
// (-check itself runs unconfined).
func checkSandbox(r *report, path string, cfg *conf.Config) {
	abi, filters := sandboxSupport()
	what := fmt.Sprintf("Landlock ABI %d", abi)
	if abi == 0 {
		what = "no Landlock on this kernel (Linux 5.13 or later, with landlock in its lsm= list): files not confined"
	}
	if filters {
		r.ok("sandbox", what+"; seccomp filter")
	} else {
		r.ok("sandbox", what+"; no seccomp filters on this kernel: system calls not confined")
	}
	r.detail("may read, once started:")
	for _, rd := range newSandbox(path, cfg, os.Getenv).read {
		p := rd.path
		if rd.dir {
			p += "/"
		}
		r.detail(fmt.Sprintf("  %s (%s)", p, rd.why))
	}
}

// checkFigures are the sizing figures -check has: the kernel's mark (the
// peak since its last reset) where it has one, else only the backlog now;
// and the records lost so far, as if before the plugin started.
func checkFigures(st auditclient.Status) sizing.Figures {
	f := sizing.Figures{Peak: st.Backlog, Limit: st.BacklogLimit, LostBefore: uint64(st.Lost)}
	if st.HasMaxDepth {
		f.Peak = max(f.Peak, st.MaxDepth)
	}
	return f
}

// checkEmitters tries each configured emitter; a failure it recognizes
// names the line to change.
func checkEmitters(ctx context.Context, r *report, cfg *conf.Config) {
	set, err := emit.Open(ctx, *cfg, version, slog.New(slog.DiscardHandler))
	if err != nil {
		r.fail("emitters", strings.Join(cfg.Emitters, ", "), err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	for _, res := range set.Check(cctx) {
		if res.Err == nil {
			r.ok("emitter", res.Emitter+" "+res.Target)
			continue
		}
		r.fail("emitter", res.Emitter+" "+res.Target, res.Err)
		var fe *emit.FixError
		if errors.As(res.Err, &fe) {
			where := "add it to " + cfg.File
			if n := cfg.Line(fe.Fix.Key); n > 0 {
				where = fmt.Sprintf("line %d of %s", n, cfg.File)
			}
			r.detail(fmt.Sprintf("fix: %s = %s (%s): %s", fe.Fix.Key, fe.Fix.Value, where, fe.Fix.Why))
		}
	}
	cancel()
	closeCtx, cancel := context.WithTimeout(ctx, closeBudget)
	defer cancel()
	if err := set.Close(closeCtx); err != nil {
		r.detail(fmt.Sprintf("closing the emitters: %v", err))
	}
}

// probeKernel reads the audit status once.
func probeKernel() (auditclient.Status, error) {
	c, err := auditclient.Open()
	if err != nil {
		return auditclient.Status{}, err
	}
	defer c.Close()
	st, err := c.Status()
	if errors.Is(err, fs.ErrPermission) {
		return st, fmt.Errorf("%w (run -check as root)", err)
	}
	return st, err
}

// report prints -check's lines and counts the problems.
type report struct {
	w        io.Writer
	failures int
}

func (r *report) ok(what, subject string) {
	fmt.Fprintf(r.w, "ok    %-9s %s\n", what, subject)
}

func (r *report) fail(what, subject string, err error) { r.failN(what, subject, 1, err) }

// note prints advice that is neither a pass nor a problem.
func (r *report) note(what, text string) {
	fmt.Fprintf(r.w, "note  %-9s %s\n", what, text)
}

// failN reports err, which holds n problems.
func (r *report) failN(what, subject string, n int, err error) {
	r.failures += n
	fmt.Fprintf(r.w, "FAIL  %-9s %s\n", what, subject)
	r.detail(err.Error())
}

func (r *report) detail(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(r.w, "      %-9s %s\n", "", line)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
