package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
	"github.com/audisp-backlog/audisp-backlog/conf"
	"github.com/audisp-backlog/audisp-backlog/emit"
	"github.com/audisp-backlog/audisp-backlog/plugin/peak"
)

// checkTimeout bounds each emitter's probe in -check.
const checkTimeout = 5 * time.Second

// check validates the configuration, probes the kernel read-only (AUDIT_GET,
// never a reset) and tries each configured emitter, printing a short report
// for a person. It returns the exit status: 0 when the plugin would run and
// deliver, 1 otherwise.
func check(ctx context.Context, path string, w io.Writer) int {
	r := &report{w: w}
	fmt.Fprintf(w, "audisp-backlog %s\n", version)

	cfg, err := conf.Load(path)
	if err != nil {
		r.fail("config", path, err)
	} else {
		r.ok("config", path)
		var b strings.Builder
		if _, err := cfg.WriteTo(&b); err != nil {
			r.fail("config", "effective configuration", err)
		}
		r.detail(b.String())
	}

	st, err := probeKernel()
	if err != nil {
		r.fail("kernel", "audit netlink", err)
	} else {
		r.ok("kernel", fmt.Sprintf("audit enabled=%d, backlog %d of limit %d, lost %d, backlog_wait_time_actual %d ticks",
			st.Enabled, st.Backlog, st.BacklogLimit, st.Lost, st.BacklogWaitTimeActual))
		if st.Enabled == 0 {
			r.detail("auditing is disabled (auditctl -e 1): no records reach the queue")
		}
		if st.HasMaxDepth {
			r.detail(fmt.Sprintf("backlog_max_depth supported (high-water mark now %d)", st.MaxDepth))
		} else {
			r.detail("backlog_max_depth not supported by this kernel: bursts are found by sampling the backlog")
		}
		if cfg != nil {
			if m, err := peak.Resolve(cfg.Method, st); err != nil {
				r.fail("method", cfg.Method, err)
			} else {
				r.ok("method", fmt.Sprintf("%s (method = %s)", m, cfg.Method))
			}
		}
	}
	if hz, src, err := auditclient.TickRate(""); err != nil {
		r.detail(fmt.Sprintf("wait time: %v", err))
	} else {
		r.detail(fmt.Sprintf("wait time: kernel HZ %d (from %s)", hz, src))
	}

	if cfg != nil {
		// What the daemon confines itself to, after start-up (-check
		// itself runs unconfined).
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

	if cfg != nil {
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		set, err := emit.Open(ctx, *cfg, version, logger)
		if err != nil {
			r.fail("emitters", strings.Join(cfg.Emitters, ", "), err)
		} else {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			for _, res := range set.Check(cctx) {
				if res.Err != nil {
					r.fail("emitter", res.Emitter+" "+res.Target, res.Err)
				} else {
					r.ok("emitter", res.Emitter+" "+res.Target)
				}
			}
			cancel()
			closeCtx, cancel := context.WithTimeout(ctx, shutdownBudget)
			if err := set.Close(closeCtx); err != nil {
				r.detail(fmt.Sprintf("closing the emitters: %v", err))
			}
			cancel()
		}
	}

	if r.failures > 0 {
		fmt.Fprintf(w, "%d problem(s) found\n", r.failures)
		return 1
	}
	fmt.Fprintln(w, "all checks passed")
	return 0
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

// report prints -check's lines.
type report struct {
	w        io.Writer
	failures int
}

func (r *report) ok(what, subject string) {
	fmt.Fprintf(r.w, "ok    %-9s %s\n", what, subject)
}

func (r *report) fail(what, subject string, err error) {
	r.failures++
	fmt.Fprintf(r.w, "FAIL  %-9s %s\n", what, subject)
	r.detail(err.Error())
}

func (r *report) detail(text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(r.w, "      %-9s %s\n", "", line)
	}
}
