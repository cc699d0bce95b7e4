//go:build linux

// Command e2e-driver runs one end-to-end scenario inside the e2e guest. The
// guest's /init starts it; the scenario is named on the kernel command line
// (e2e.scenario=NAME, e2e.seed=N for the random one). It starts the
// collector and auditd (which starts the plugin), drives bursts, resets,
// signals and polls, and prints what it observes to the console as
// "@e2e {json}" lines: the host test reads them there and makes every
// assertion, so the driver itself judges nothing.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

const (
	pluginPath = "/usr/sbin/audisp-backlog"
	pluginConf = "/etc/audit/audisp-backlog.conf"
	pluginsDir = "/etc/audit/plugins.d"
	auditLog   = "/var/log/audit/audit.log"
	syslogFile = "/var/log/messages"
	maxDepth   = "linux.audit.backlog.max_depth"
)

func main() {
	args := cmdline()
	d := &driver{out: os.Stdout, reports: make(chan report, 1024)}
	err := d.run(args["e2e.scenario"], args["e2e.seed"])
	d.dump()
	dumpStream(d)
	if err != nil {
		d.event("error", map[string]any{"err": err.Error()})
		os.Exit(1)
	}
}

// cmdline returns the key=value words of the kernel command line.
func cmdline() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return m
	}
	for _, w := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(w, "="); ok {
			m[k] = v
		}
	}
	return m
}

// report is one interval the plugin reported: its max_depth data point as
// the collector received it over OTLP.
type report struct {
	Value  uint32
	Method string
	MS     int64 // data point time (the interval's end), unix ms
	Seen   int64 // when the driver read it, unix ms
}

type driver struct {
	mu      sync.Mutex
	out     io.Writer
	reports chan report
	nl      *auditnl.Conn
	auditd  *exec.Cmd
	exited  chan struct{} // closed when auditd has exited
}

// event prints one observation for the host.
func (d *driver) event(ev string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ev"] = ev
	if _, ok := fields["ms"]; !ok {
		fields["ms"] = time.Now().UnixMilli()
	}
	b, err := json.Marshal(fields)
	if err != nil {
		b = fmt.Appendf(nil, `{"ev":"error","err":%q}`, err.Error())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "@e2e %s\n", b)
}

func (d *driver) run(scenario, seed string) error {
	d.event("start", map[string]any{"scenario": scenario, "plugin": exists(pluginPath)})
	nl, err := auditnl.Open()
	if err != nil {
		return err
	}
	d.nl = nl
	st, err := nl.Status()
	if err != nil {
		return err
	}
	d.event("status", statusFields(st))
	args := cmdline()
	if err := guestConfig(d, args); err != nil {
		return err
	}
	if f, ok := matrixScenarios[scenario]; ok {
		return f(d, args)
	}
	switch scenario {
	case "probe": // the host's KVM probe: booting is all it needs
		return nil
	case "smoke":
		return d.smoke()
	case "hold":
		return d.hold()
	case "burst":
		return d.burstScenario()
	case "reset":
		return d.resetScenario()
	case "lifecycle":
		return d.lifecycle()
	case "sampled":
		return d.sampled()
	case "auto":
		return d.auto()
	case "compare":
		n, _ := strconv.ParseUint(seed, 10, 64) // no seed: 0
		return d.compare(n)
	}
	if scenario == "flood" { // flood.go
		return d.flood()
	}
	if strings.HasPrefix(scenario, "ebpf-") { // ebpf.go
		n, _ := strconv.ParseUint(seed, 10, 64)
		return d.ebpfScenario(scenario, n)
	}
	return fmt.Errorf("unknown scenario %q", scenario)
}

func statusFields(s auditnl.Status) map[string]any {
	return map[string]any{"len": s.Len, "enabled": s.Enabled, "pid": s.Pid, "backlog_limit": s.BacklogLimit,
		"lost": s.Lost, "backlog": s.Backlog, "max_depth": s.MaxDepth}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// writeConf writes the plugin's configuration as auditd would find it.
func writeConf(lines ...string) error {
	return os.WriteFile(pluginConf, []byte(strings.Join(lines, "\n")+"\n"), 0o640)
}

// addInstance has auditd start one more instance of the plugin, named
// name: its own plugins.d entry, a copy of the shipped one pointing at its
// own configuration, the scenarios' common one with lines added.
func addInstance(name, interval string, lines ...string) error {
	entry, err := os.ReadFile(pluginsDir + "/audisp-backlog.conf")
	if err != nil {
		return err
	}
	config := "/etc/audit/audisp-backlog-" + name + ".conf"
	text := strings.ReplaceAll(string(entry), pluginConf, config) // the args line, and comments naming it
	if text == string(entry) {
		return fmt.Errorf("%s/audisp-backlog.conf does not name %s", pluginsDir, pluginConf)
	}
	if err := os.WriteFile(pluginsDir+"/audisp-backlog-"+name+".conf", []byte(text), 0o640); err != nil {
		return err
	}
	return os.WriteFile(config, []byte(strings.Join(append([]string{
		"interval = " + interval,
		"emitters = otlp",
		"otlp_endpoint = 127.0.0.1:4317",
		"otlp_insecure = yes",
		"log_level = debug",
	}, lines...), "\n")+"\n"), 0o640)
}

// pluginConfig is the scenarios' common configuration: both network
// emitters, pointed at the in-guest collector.
func pluginConfig(interval string, extra ...string) error {
	return writeConf(append([]string{
		"interval = " + interval,
		"sample_interval = 100ms",
		"emitters = otlp, statsd",
		"otlp_endpoint = 127.0.0.1:4317",
		"otlp_insecure = yes",
		"statsd_address = 127.0.0.1:8125",
		"log_level = debug",
	}, extra...)...)
}

// startCollector runs e2e-collector, copies its lines to the console and
// passes each export's max_depth data point on d.reports once the whole
// export is printed.
func (d *driver) startCollector() error {
	cmd := exec.Command("/bin/e2e-collector")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start collector: %w", err)
	}
	ready := make(chan struct{})
	go func() { // ends when the collector exits (at power-off)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.OnceFunc(func() { close(ready) })
		var pending *report // a max_depth data point whose export is still being printed
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			fmt.Fprintln(d.out, line)
			d.mu.Unlock()
			var e struct {
				Ev    string            `json:"ev"`
				Proto string            `json:"proto"`
				Name  string            `json:"name"`
				Value float64           `json:"value"`
				Attrs map[string]string `json:"attrs"`
				MS    int64             `json:"ms"`
			}
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "@e2e ")), &e) != nil {
				continue
			}
			switch {
			case e.Ev == "collector-ready":
				once()
			case e.Ev == "otlp" && e.Name == maxDepth:
				pending = &report{Value: uint32(e.Value), Method: e.Attrs["method"], MS: e.MS}
			case e.Ev == "otlp-done" && pending != nil:
				// Every data point of the export is on the console.
				pending.Seen = time.Now().UnixMilli()
				d.reports <- *pending
				pending = nil
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("collector not ready after 10s")
	}
}

// startAuditd runs auditd in the foreground (-n) and waits until it is the
// kernel's registered audit daemon and, if installed, has started the plugin.
func (d *driver) startAuditd() error {
	cmd := exec.Command("/sbin/auditd", "-n")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start auditd: %w", err)
	}
	d.auditd = cmd
	d.exited = make(chan struct{})
	go func() { cmd.Wait(); close(d.exited) }() // ends when auditd exits
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := d.nl.Status()
		if err != nil {
			return err
		}
		plugin := !exists(pluginPath) || pluginPid() != 0
		if int(st.Pid) == cmd.Process.Pid && plugin {
			d.event("auditd", map[string]any{"pid": cmd.Process.Pid, "plugin_pid": pluginPid()})
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("auditd exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("auditd not registered (audit pid %d, want %d) or plugin not started", st.Pid, cmd.Process.Pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pluginPid returns the pid of the running plugin, 0 if none.
func pluginPid() int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "audisp-backlog" {
			if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
				return pid
			}
		}
	}
	return 0
}

// threadStatus reads keys from /proc/PID/task/*/status: for each key, the
// values its threads show, distinct, joined by commas; and the thread
// count.
func threadStatus(pid int, keys ...string) map[string]any {
	fields := map[string]any{"pid": pid}
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	fields["threads"] = len(tasks)
	seen := map[string][]string{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if v = strings.TrimSpace(v); ok && slices.Contains(keys, k) && !slices.Contains(seen[k], v) {
				seen[k] = append(seen[k], v)
			}
		}
	}
	for _, k := range keys {
		fields[k] = strings.Join(seen[k], ",")
	}
	return fields
}

func alive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(st), ") Z ")
}

func (d *driver) signalAuditd(sig syscall.Signal) error {
	if err := syscall.Kill(d.auditd.Process.Pid, sig); err != nil {
		return fmt.Errorf("signal auditd %v: %w", sig, err)
	}
	return nil
}

// burst runs audit-burst with n messages and reports how long it took.
func (d *driver) burst(n int, tag string) error {
	start := time.Now()
	out, err := exec.Command("/bin/audit-burst", "-n", strconv.Itoa(n), "-tag", tag).CombinedOutput()
	if err != nil {
		return fmt.Errorf("audit-burst: %w: %s", err, out)
	}
	d.event("burst", map[string]any{"n": n, "tag": tag, "start_ms": start.UnixMilli(), "took_ms": time.Since(start).Milliseconds()})
	return nil
}

// stoppedBurst makes a burst while auditd is stopped, holds it for hold so
// samplers see it, reads the status, then resumes auditd and waits for the
// queue to drain. It returns the status read while stopped and after.
func (d *driver) stoppedBurst(n int, tag string, hold time.Duration) (stopped, drained auditnl.Status, err error) {
	if err := d.signalAuditd(syscall.SIGSTOP); err != nil {
		return stopped, drained, err
	}
	if err := d.burst(n, tag); err != nil {
		return stopped, drained, err
	}
	// Read the queue every 10 ms while holding it: the range it spans is
	// what any sampler could have seen. Keep holds short: after about
	// 600 ms of a full auditd socket, kauditd gives up on auditd and moves
	// the queue to its hold queue, out of auditd's reach.
	lo, hi, reads := uint32(math.MaxUint32), uint32(0), 0
	for end := time.Now().Add(hold); ; {
		if stopped, err = d.nl.Status(); err != nil {
			return stopped, drained, err
		}
		lo, hi, reads = min(lo, stopped.Backlog), max(hi, stopped.Backlog), reads+1
		if time.Now().After(end) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.event("hold", map[string]any{"min": lo, "max": hi, "reads": reads, "hold_ms": hold.Milliseconds()})
	d.event("stopped-status", statusFields(stopped))
	if err := d.signalAuditd(syscall.SIGCONT); err != nil {
		return stopped, drained, err
	}
	if drained, err = d.drain(); err != nil {
		return stopped, drained, err
	}
	d.event("drained-status", statusFields(drained))
	return stopped, drained, nil
}

// drain waits until the kernel queue has been empty for three reads in a row.
func (d *driver) drain() (auditnl.Status, error) {
	deadline := time.Now().Add(30 * time.Second)
	zero := 0
	for {
		st, err := d.nl.Status()
		if err != nil {
			return st, err
		}
		if st.Backlog == 0 {
			zero++
			if zero == 3 {
				return st, nil
			}
		} else {
			zero = 0
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("queue not drained after 30s: backlog %d", st.Backlog)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resetTool runs audit-reset, the "other tool", and returns its ack value.
func (d *driver) resetTool() (uint32, error) {
	out, err := exec.Command("/bin/audit-reset").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("audit-reset: %w: %s", err, out)
	}
	_, v, ok := strings.Cut(strings.TrimSpace(string(out)), "old=")
	n, perr := strconv.ParseUint(v, 10, 32)
	if !ok || perr != nil {
		return 0, fmt.Errorf("audit-reset printed %q", out)
	}
	d.event("external-reset", map[string]any{"old": n})
	return uint32(n), nil
}

// nextReport waits for the plugin's next interval report.
func (d *driver) nextReport(timeout time.Duration) (report, error) {
	select {
	case r := <-d.reports:
		return r, nil
	case <-time.After(timeout):
		return report{}, fmt.Errorf("no report within %v", timeout)
	}
}

// pendingReports reports whether a report arrived that nobody has read.
func (d *driver) pendingReports() int { return len(d.reports) }

// setRule makes the kernel log every sendto of 17 to 127 bytes: on the
// audit socket that is an AUDIT_SET with its status payload (AUDIT_GET is a
// bare 16-byte header), so the plugin's resets show up in the audit log as
// SYSCALL records with key "e2e-set" even on an unpatched kernel, which
// would otherwise log nothing for them.
const setRule = "e2e-set"

// setup starts the collector, loads the rule above, writes the plugin's
// config and starts auditd.
func (d *driver) setup(interval string, extra ...string) error {
	if err := d.startCollector(); err != nil {
		return err
	}
	out, err := exec.Command("/sbin/auditctl", "-a", "always,exit", "-F", "arch=b64", "-S", "sendto",
		"-F", "a2>16", "-F", "a2<128", "-k", setRule).CombinedOutput()
	if err != nil {
		return fmt.Errorf("auditctl: %w: %s", err, out)
	}
	if err := pluginConfig(interval, extra...); err != nil {
		return err
	}
	return d.startAuditd()
}

// smoke needs no plugin: it checks the kernel and auditd alone.
func (d *driver) smoke() error {
	if err := d.startAuditd(); err != nil {
		return err
	}
	if _, _, err := d.stoppedBurst(5000, "smoke", 100*time.Millisecond); err != nil {
		return err
	}
	if _, err := d.resetTool(); err != nil {
		return err
	}
	st, err := d.nl.Status()
	if err != nil {
		return err
	}
	d.event("after-reset-status", statusFields(st))
	return nil
}

// hold prints the queue every 100 ms for 3 s after a burst made while
// auditd is stopped: how long the kernel keeps a burst queued.
func (d *driver) hold() error {
	if err := d.startAuditd(); err != nil {
		return err
	}
	if err := d.signalAuditd(syscall.SIGSTOP); err != nil {
		return err
	}
	if err := d.burst(3000, "hold"); err != nil {
		return err
	}
	for range 30 {
		st, err := d.nl.Status()
		if err != nil {
			return err
		}
		d.event("hold-status", statusFields(st))
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.signalAuditd(syscall.SIGCONT); err != nil {
		return err
	}
	_, err := d.drain()
	return err
}

// withinOneInterval runs act right after a report, so that it happens
// inside one interval, and then waits for reports more reports (the act's
// interval, then quiet ones). If an interval ended during act, it tries
// again, up to three times.
func (d *driver) withinOneInterval(wait time.Duration, reports int, act func() error) error {
	for attempt := range 3 {
		r0, err := d.nextReport(wait)
		if err != nil {
			return err
		}
		d.event("sync", map[string]any{"report_ms": r0.MS, "attempt": attempt})
		if err := act(); err != nil {
			return err
		}
		if d.pendingReports() > 0 {
			d.event("straddled", nil) // an interval ended mid-act; try again
			continue
		}
		for range reports {
			if _, err := d.nextReport(wait); err != nil {
				return err
			}
		}
		d.event("scenario-done", nil)
		return nil
	}
	return errors.New("every attempt straddled an interval boundary")
}

// burstScenario is scenario 1: a burst with auditd stopped, then the next
// interval's report.
func (d *driver) burstScenario() error {
	if err := d.setup("5s"); err != nil {
		return err
	}
	return d.withinOneInterval(15*time.Second, 2, func() error {
		_, _, err := d.stoppedBurst(5000, "burst", 100*time.Millisecond)
		return err
	})
}

// resetScenario is scenario 2: another tool resets the mark mid-interval.
func (d *driver) resetScenario() error {
	if err := d.setup("8s"); err != nil {
		return err
	}
	return d.withinOneInterval(20*time.Second, 2, func() error {
		if _, _, err := d.stoppedBurst(4000, "big", 100*time.Millisecond); err != nil {
			return err
		}
		if _, err := d.resetTool(); err != nil {
			return err
		}
		_, _, err := d.stoppedBurst(1500, "small", 100*time.Millisecond)
		return err
	})
}

// lifecycle is scenario 3: auditd reload (SIGHUP), then auditd stop.
func (d *driver) lifecycle() error {
	if err := d.setup("3s"); err != nil {
		return err
	}
	if _, err := d.nextReport(10 * time.Second); err != nil {
		return err
	}
	p1 := pluginPid()
	d.event("plugin-status", threadStatus(p1, "Seccomp", "Seccomp_filters", "NoNewPrivs", "CapEff", "CapBnd"))
	hup := time.Now()
	if err := d.signalAuditd(syscall.SIGHUP); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	p2 := pluginPid()
	d.event("reloaded", map[string]any{"pid_before": p1, "pid_after": p2, "hup_ms": hup.UnixMilli()})
	// Reports after the reload show the plugin still works.
	for range 2 {
		if _, err := d.nextReport(10 * time.Second); err != nil {
			return err
		}
	}
	p := pluginPid()
	term := time.Now()
	if err := d.signalAuditd(syscall.SIGTERM); err != nil {
		return err
	}
	pluginGone, auditdGone := int64(-1), int64(-1)
	for time.Since(term) < 10*time.Second && (pluginGone < 0 || auditdGone < 0) {
		if pluginGone < 0 && !alive(p) {
			pluginGone = time.Since(term).Milliseconds()
		}
		select {
		case <-d.exited:
			if auditdGone < 0 {
				auditdGone = time.Since(term).Milliseconds()
			}
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.event("stopped", map[string]any{"plugin_pid": p, "plugin_exit_ms": pluginGone, "auditd_exit_ms": auditdGone, "term_ms": term.UnixMilli()})
	time.Sleep(500 * time.Millisecond) // let a final flush reach the collector
	d.event("scenario-done", nil)
	return nil
}

// sampled is scenario 4, on the unpatched kernel: a burst held for 300 ms
// while auditd is stopped, so the 100 ms sampler sees it; then the burst's
// interval and two quiet ones.
func (d *driver) sampled() error {
	return d.heldBurst("method = sampled")
}

// auto is scenario 6, on kernels without backlog_max_depth: the plugin
// with the shipped configuration's method (auto), which attaches the eBPF
// probe, and the burst of scenario 4.
func (d *driver) auto() error {
	return d.heldBurst()
}

// heldBurst sets the plugin up with a 4 s interval and the lines given,
// then makes a 3000-message burst held 300 ms while auditd is stopped
// within one interval, and waits for that interval's report and two more.
func (d *driver) heldBurst(lines ...string) error {
	if err := d.setup("4s", lines...); err != nil {
		return err
	}
	return d.withinOneInterval(15*time.Second, 3, func() error {
		_, _, err := d.stoppedBurst(3000, "sampled", 300*time.Millisecond)
		return err
	})
}

// compare is scenario 5: twenty bursts of random size at random times with
// auditd running, while a 1 s poller samples the backlog like a classic
// monitoring agent would. auditd runs three instances of the plugin, each
// measuring the same queue its own way: the kernel's mark (the reference),
// the eBPF probe, and 100 ms sampling; their reports tell apart by their
// method attribute.
func (d *driver) compare(seed uint64) error {
	for _, method := range []string{"ebpf", "sampled"} {
		if err := addInstance(method, "5s", "method = "+method, "resource_attributes = service.instance.id="+method); err != nil {
			return err
		}
	}
	if err := d.setup("5s", "method = kernel", "resource_attributes = service.instance.id=kernel"); err != nil {
		return err
	}
	poll := exec.Command("/bin/audit-poll", "1s")
	stdout, err := poll.StdoutPipe()
	if err != nil {
		return err
	}
	if err := poll.Start(); err != nil {
		return fmt.Errorf("start audit-poll: %w", err)
	}
	done := make(chan struct{})
	go func() { // ends when audit-poll exits
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ms int64
			var backlog uint32
			if _, err := fmt.Sscanf(sc.Text(), "poll ms=%d backlog=%d", &ms, &backlog); err == nil {
				d.event("poll", map[string]any{"ms": ms, "backlog": backlog})
			}
		}
	}()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	d.event("seed", map[string]any{"seed": seed})
	// The instances' intervals end at different times (the eBPF one
	// starts later, after attaching its probe). A burst that is still
	// draining when an interval ends counts, through the records queued
	// meanwhile, in the next interval of one instance and not of the
	// other. So each burst waits for the queue to drain, and then for the
	// kernel's and the eBPF instance's intervals to end: every burst then
	// lies in one interval of each, which starts with the queue empty.
	reports := func(after time.Time) error {
		seen := map[string]bool{}
		for !seen["kernel"] || !seen["ebpf"] {
			r, err := d.nextReport(15 * time.Second)
			if err != nil {
				return err
			}
			// Only an interval that ended after the drain: one that
			// ended before may be reported later (the kernel
			// instance waits for its reset's record).
			seen[r.Method] = seen[r.Method] || r.MS > after.UnixMilli()
		}
		return nil
	}
	if err := reports(time.Now()); err != nil {
		return err
	}
	for i := range 20 {
		time.Sleep(time.Duration(100+rng.IntN(1400)) * time.Millisecond)
		if err := d.burst(200+rng.IntN(5800), fmt.Sprintf("cmp%d", i)); err != nil {
			return err
		}
		if _, err := d.drain(); err != nil {
			return err
		}
		now := time.Now()
		d.event("drained", map[string]any{"tag": fmt.Sprintf("cmp%d", i), "ms": now.UnixMilli()})
		if err := reports(now); err != nil {
			return err
		}
	}
	if err := reports(time.Now()); err != nil { // one quiet interval
		return err
	}
	// The sampled instance's report of that interval.
	time.Sleep(time.Second)
	poll.Process.Signal(syscall.SIGTERM)
	<-done
	poll.Wait() // exit status after SIGTERM says nothing
	d.event("scenario-done", nil)
	return nil
}

// dump prints the backlog_max_depth resets and the sandbox refusals
// (SECCOMP, LANDLOCK_ACCESS) found in the audit log, the plugin's syslog
// lines and the netlink tap's count, for the host.
func (d *driver) dump() {
	if f, err := os.Open(auditLog); err == nil {
		defer f.Close()
		comm := map[string]string{} // serial -> comm of the SYSCALL record
		type reset struct {
			serial, line string
			old          uint64
			ms           int64
		}
		var resets []reset
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		records := 0
		sets := map[string]int{} // comm -> SYSCALL records of the setRule
		for sc.Scan() {
			line := sc.Text()
			records++
			serial, ms := auditStamp(line)
			if strings.HasPrefix(line, "type=SYSCALL ") {
				if _, v, ok := strings.Cut(line, " comm=\""); ok {
					c, _, _ := strings.Cut(v, "\"")
					comm[serial] = c
					if strings.Contains(line, ` key="`+setRule+`"`) {
						sets[c]++
					}
				}
			}
			if strings.HasPrefix(line, "type=SECCOMP ") || strings.HasPrefix(line, "type=LANDLOCK_ACCESS ") {
				d.event("audit-denial", map[string]any{"line": line})
			}
			if strings.HasPrefix(line, "type=CONFIG_CHANGE ") && strings.Contains(line, "backlog_max_depth=0 old=") {
				_, v, _ := strings.Cut(line, "backlog_max_depth=0 old=")
				v, _, _ = strings.Cut(v, " ")
				old, _ := strconv.ParseUint(v, 10, 32)
				resets = append(resets, reset{serial: serial, line: line, old: old, ms: ms})
			}
		}
		for _, r := range resets {
			d.event("log-reset", map[string]any{"old": r.old, "ms": r.ms, "serial": r.serial, "comm": comm[r.serial], "line": r.line})
		}
		d.event("audit-log", map[string]any{"records": records, "resets": len(resets), "set_sendto_by_comm": sets})
	}
	if b, err := os.ReadFile(syslogFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "audisp-backlog") || strings.Contains(line, "auditd") {
				d.event("syslog", map[string]any{"line": line})
			}
		}
	}
}

// auditStamp returns the serial and the time in unix ms of an audit record
// line "type=T msg=audit(SEC.MSEC:SERIAL): ...".
func auditStamp(line string) (serial string, ms int64) {
	_, v, ok := strings.Cut(line, "msg=audit(")
	if !ok {
		return "", 0
	}
	v, _, _ = strings.Cut(v, ")")
	stamp, serial, _ := strings.Cut(v, ":")
	sec, frac, _ := strings.Cut(stamp, ".")
	s, _ := strconv.ParseInt(sec, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return serial, s*1000 + f
}
