//go:build linux

package main

// The flood benchmark (issue 16, part 2; e2e/flood_test.go, make
// e2e-flood): what a plugin costs auditd when the kernel makes records as
// fast as it can. One boot runs every variant in interleaved rounds,
// restarting auditd with a different plugins.d between rounds, and prints
// one "flood" event per round with what the kernel, auditd's log, auditd's
// state report and the plugin said. The host reduces them to medians.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	auditdState = "/var/run/auditd.state" // auditd 3.0.9 writes it on SIGCONT
	floodRule   = "flood"
)

// floodVariants are the plugins compared, in their first round's order:
// none, the reader that discards, then audisp-backlog with each method.
var floodVariants = []string{"none", "cat", "sampled", "kernel", "ebpf"}

// floodOpts are the benchmark's settings, from e2e.flood= on the kernel
// command line: comma-separated key=value, e.g.
// rounds=5,window=5s,mode=user,variants=none+cat.
type floodOpts struct {
	rounds   int
	window   time.Duration // how long the flood goes on once the backlog is full
	mode     string        // audit-flood -mode
	variants []string
	statsd   bool // print the plugin's datagrams too ("statsd" events)
}

// floodFill bounds how long a flood may take to fill the backlog.
const floodFill = 60 * time.Second

func parseFloodOpts(s string) (floodOpts, error) {
	o := floodOpts{rounds: 5, window: 5 * time.Second, mode: "user", variants: floodVariants}
	for kv := range strings.SplitSeq(s, ",") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "rounds":
			o.rounds, err = strconv.Atoi(v)
		case "window":
			o.window, err = time.ParseDuration(v)
		case "mode":
			o.mode = v
		case "variants":
			o.variants = strings.Split(v, "+")
		case "statsd":
			o.statsd, err = strconv.ParseBool(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return o, fmt.Errorf("e2e.flood: %q: %w", kv, err)
		}
	}
	return o, nil
}

// statsdSink is the plugin's statsd server: it keeps every datagram of the
// current round, and prints none (the console is slow and shared).
type statsdSink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []string
}

func listenStatsd() (*statsdSink, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8125})
	if err != nil {
		return nil, fmt.Errorf("statsd listener: %w", err)
	}
	s := &statsdSink{conn: c}
	go func() { // ends when the guest powers off
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// take returns the datagrams received since the last take.
func (s *statsdSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

func (s *statsdSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// flood runs the benchmark.
func (d *driver) flood() error {
	o, err := parseFloodOpts(cmdline()["e2e.flood"])
	if err != nil {
		return err
	}
	perRound := o.window + 40*time.Second
	watchdog := time.AfterFunc(time.Duration(o.rounds*len(o.variants))*perRound+time.Minute, func() {
		d.stuck("flood")
		os.Exit(3)
	})
	defer watchdog.Stop()
	// The probe reads the lockdown mode from securityfs.
	if err := syscall.Mount("securityfs", "/sys/kernel/security", "securityfs", 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
		d.event("note", map[string]any{"msg": "mount securityfs: " + err.Error()})
	}
	entry, err := os.ReadFile(pluginEntry)
	if err != nil {
		return fmt.Errorf("the shipped plugins.d entry (initramfs with the plugin?): %w", err)
	}
	if o.mode == "syscall" {
		out, err := exec.Command("/sbin/auditctl", "-a", "always,exit", "-F", "arch=b64", "-S", "getpid", "-k", floodRule).CombinedOutput()
		if err != nil {
			return fmt.Errorf("auditctl: %w: %s", err, out)
		}
	}
	sink, err := listenStatsd()
	if err != nil {
		return err
	}
	d.event("flood-start", map[string]any{"rounds": o.rounds, "window_ms": o.window.Milliseconds(), "mode": o.mode, "variants": o.variants})
	for r := range o.rounds {
		for i := range o.variants {
			// Each round starts one variant later, so that no variant
			// always follows the same one.
			v := o.variants[(i+r)%len(o.variants)]
			f, err := d.floodRound(o, v, entry, sink)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, v, err)
			}
			f["round"], f["variant"] = r, v
			d.event("flood", f)
		}
	}
	d.event("scenario-done", nil)
	return nil
}

// configure writes plugins.d (and the plugin's configuration) for variant v.
func configure(v string, entry []byte) (comm string, err error) {
	ents, err := os.ReadDir(pluginsDir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(pluginsDir, e.Name())); err != nil {
			return "", err
		}
	}
	switch v {
	case "none":
		return "", nil
	case "cat":
		// As in the stall scenario: reads to the end, exits at EOF.
		return "cat", addScriptPlugin(catPlugin, "e2e-cat", "exec cat >/dev/null")
	case "sampled", "kernel", "ebpf":
		// The shortest interval: the most work per record the plugin
		// can be asked for (resets, samples, reports). sample_interval
		// is auto: 100 ms sampled, 500 ms (interval/2) otherwise.
		if err := writeConf("interval = 1s", "method = "+v, "emitters = statsd",
			"statsd_address = 127.0.0.1:8125"); err != nil {
			return "", err
		}
		return "audisp-backlog", os.WriteFile(pluginEntry, entry, 0o640)
	}
	return "", fmt.Errorf("unknown variant %q", v)
}

// floodRound runs one variant once: auditd started afresh, a flood that
// goes on for o.window once the kernel's backlog is full (auditd is then
// what holds the flood back), the queues drained, then what everyone says.
func (d *driver) floodRound(o floodOpts, v string, entry []byte, sink *statsdSink) (map[string]any, error) {
	comm, err := configure(v, entry)
	if err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	for _, p := range []string{auditLog, auditdState} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	sink.take()
	fullBefore, rcvErr0 := syslogCount("queue to plugins is full"), udpRcvbufErrors()
	probeBefore := syslogCount("the eBPF probe saw no record queued")
	auditd, plugin, err := d.floodAuditd(comm, sink)
	if err != nil {
		return nil, err
	}
	defer func() { // on an error: stop what this round started
		select {
		case <-d.exited:
		default:
			auditd.Process.Kill()
		}
	}()
	time.Sleep(500 * time.Millisecond) // let start-up work settle
	if _, err := d.nl.ResetMaxDepth(); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond) // the reset's records are logged before t0
	st0, err := d.nl.Status()
	if err != nil {
		return nil, err
	}
	kauditd := pidByComm("kauditd", -1)
	cpu0 := map[string]int64{"auditd": procTicks(auditd.Process.Pid), "plugin": procTicks(plugin), "kauditd": procTicks(kauditd)}
	sw0 := map[string]int64{"auditd": ctxSwitches(auditd.Process.Pid), "plugin": ctxSwitches(plugin), "kauditd": ctxSwitches(kauditd)}
	busy0, total0 := cpuTicks()

	t0 := time.Now()
	flooder := exec.Command("/bin/audit-flood", "-mode", o.mode, "-dur", floodFill.String())
	var out bytes.Buffer
	flooder.Stdout, flooder.Stderr = &out, &out
	if err := flooder.Start(); err != nil {
		return nil, fmt.Errorf("start audit-flood: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- flooder.Wait() }() // ends when the flood does
	// Every 200 ms the log's size and the backlog. The window starts at
	// the first sample with the backlog at 90 % of its limit or more.
	type sample struct {
		ms, size int64
		backlog  uint32
	}
	var samples []sample
	full := -1 // the window's first sample
	tick := time.NewTicker(200 * time.Millisecond)
	var floodErr error
	for running := true; running; {
		select {
		case floodErr = <-done:
			running = false
			continue
		case <-tick.C:
		}
		st, err := d.nl.Status()
		if err != nil {
			flooder.Process.Kill()
			return nil, err
		}
		s := sample{time.Since(t0).Milliseconds(), fileSize(auditLog), st.Backlog}
		samples = append(samples, s)
		if full < 0 && uint64(st.Backlog)*10 >= uint64(st.BacklogLimit)*9 {
			full = len(samples) - 1
		}
		if full >= 0 && s.ms-samples[full].ms >= o.window.Milliseconds() && flooder.Process.Signal(syscall.SIGINT) == nil {
			floodErr = <-done
			running = false
		}
	}
	tick.Stop()
	t1 := time.Now()
	if floodErr != nil {
		return nil, fmt.Errorf("audit-flood: %w: %s", floodErr, out.String())
	}
	if full < 0 {
		return nil, fmt.Errorf("the backlog never came within 10 %% of its limit in %v", floodFill)
	}
	var events, tookUS int64
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "audit-flood mode="+o.mode+" events=%d took_us=%d", &events, &tookUS); err != nil {
		return nil, fmt.Errorf("audit-flood printed %q", out.String())
	}
	state, retries, err := d.floodDrain(auditd, comm != "")
	if err != nil {
		return nil, err
	}
	drained := time.Now()
	st1, err := d.nl.Status()
	if err != nil {
		return nil, err
	}
	busy1, total1 := cpuTicks()
	cpu, sw := map[string]int64{}, map[string]int64{}
	for k, p := range map[string]int{"auditd": auditd.Process.Pid, "plugin": plugin, "kauditd": kauditd} {
		cpu[k] = (procTicks(p) - cpu0[k]) * 10 // USER_HZ = 100: ms
		sw[k] = ctxSwitches(p) - sw0[k]
	}
	// The plugin's reports while auditd runs. In user mode, wait (at
	// most 3 s, three intervals) until they count every flood record the
	// log holds: the kernel method reports no partial interval at exit,
	// so what it read last would otherwise count as missed.
	before := sink.take()
	if comm == "audisp-backlog" && o.mode == "user" {
		lf, err := floodLog(o.mode, t0.UnixMilli())
		if err != nil {
			return nil, err
		}
		want := lf["flood_records"].(int64)
		for deadline := time.Now().Add(3 * time.Second); statsdSum(before, "linux.audit.plugin.records")["USER"] < want && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			before = append(before, sink.take()...)
		}
	}
	if err := d.floodStop(auditd, plugin); err != nil {
		return nil, err
	}
	if comm == "audisp-backlog" {
		// Its last report (the partial interval it flushes at exit).
		time.Sleep(200 * time.Millisecond)
	}

	first, last := samples[full], samples[len(samples)-1]
	f := map[string]any{
		"mode":              o.mode,
		"events":            events,
		"flood_us":          tookUS,
		"flooder_cpu_ms":    (flooder.ProcessState.UserTime() + flooder.ProcessState.SystemTime()).Milliseconds(),
		"t0_ms":             t0.UnixMilli(),
		"fill_ms":           first.ms,
		"win_ms":            last.ms - first.ms,
		"win_bytes":         last.size - first.size,
		"drain_ms":          drained.Sub(t1).Milliseconds(),
		"lost":              st1.Lost - st0.Lost,
		"mark_final":        st1.MaxDepth,
		"backlog_limit":     st1.BacklogLimit,
		"cpu_ms":            cpu,
		"ctx_switches":      sw,
		"cpu_busy_pct":      100 * float64(busy1-busy0) / float64(max(total1-total0, 1)),
		"queue_full_syslog": syslogCount("queue to plugins is full") - fullBefore,
		"probe_gave_up":     syslogCount("the eBPF probe saw no record queued") - probeBefore,
	}
	var lowest uint32 = math.MaxUint32 // the backlog's lowest sample in the window
	for _, s := range samples[full:] {
		lowest = min(lowest, s.backlog)
	}
	f["win_backlog_min"], f["state_sigcont_retries"] = lowest, retries
	for k, v := range state {
		f["state_"+k] = v
	}
	lf, err := floodLog(o.mode, t0.UnixMilli())
	if err != nil {
		return nil, err
	}
	for k, v := range lf {
		f[k] = v
	}
	f["max_depth"] = max(st1.MaxDepth, lf["reset_old_max"].(uint32))
	if comm == "audisp-backlog" {
		after := sink.take()
		grams := append(before, after...)
		f["plugin_datagrams"], f["plugin_datagrams_at_exit"] = len(grams), len(after)
		if o.statsd {
			for _, g := range grams {
				d.event("statsd", map[string]any{"variant": v, "text": g})
			}
		}
		f["plugin_records"] = statsdSum(grams, "linux.audit.plugin.records")
		f["plugin_records_at_exit"] = statsdSum(after, "linux.audit.plugin.records")
		for _, m := range []string{"emits_dropped", "emits_failed", "reset_records_dropped", "samples_skipped", "resets_failed"} {
			f["plugin_"+m] = statsdSum(grams, "linux.audit.plugin."+m)[""]
		}
	}
	f["udp_rcvbuf_errors"] = udpRcvbufErrors() - rcvErr0
	return f, nil
}

// floodAuditd starts auditd and waits until it is the audit daemon and its
// plugin, if any, runs (audisp-backlog: has sent its first report).
func (d *driver) floodAuditd(comm string, sink *statsdSink) (*exec.Cmd, int, error) {
	cmd := exec.Command("/sbin/auditd", "-n")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start auditd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // ends when auditd exits
	d.auditd, d.exited = cmd, exited
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := d.nl.Status()
		if err != nil {
			return cmd, 0, err
		}
		plugin := 0
		if comm != "" {
			plugin = pidByComm(comm, cmd.Process.Pid)
		}
		if int(st.Pid) == cmd.Process.Pid && (comm == "" || plugin != 0 && (comm != "audisp-backlog" || sink.count() > 0)) {
			return cmd, plugin, nil
		}
		select {
		case <-exited:
			return cmd, 0, fmt.Errorf("auditd exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return cmd, 0, fmt.Errorf("after 20s: audit pid %d (auditd %d), plugin %q pid %d, %d statsd datagrams",
				st.Pid, cmd.Process.Pid, comm, plugin, sink.count())
		}
	}
}

// floodDrain waits until the kernel queue, auditd's log and (with a
// plugin) auditd's plugin queue have been still for three reads in a row,
// and returns auditd's last state report and how many SIGCONTs it resent.
func (d *driver) floodDrain(auditd *exec.Cmd, plugin bool) (map[string]string, int, error) {
	var state map[string]string
	stable, size, retries := 0, int64(-1), 0
	for deadline := time.Now().Add(90 * time.Second); stable < 3; time.Sleep(100 * time.Millisecond) {
		st, err := d.nl.Status()
		if err != nil {
			return nil, retries, err
		}
		var again int
		if state, again, err = readState(auditd.Process.Pid); err != nil {
			return nil, retries, err
		}
		retries += again
		s := fileSize(auditLog)
		if st.Backlog == 0 && s == size && (!plugin || state["current plugin queue depth"] == "0") {
			stable++
		} else {
			stable = 0
		}
		size = s
		if time.Now().After(deadline) {
			return nil, retries, fmt.Errorf("not drained after 90s: backlog %d, plugin queue %q", st.Backlog, state["current plugin queue depth"])
		}
	}
	return state, retries, nil
}

// readState asks auditd for its state report (SIGCONT) and reads it once
// auditd has written it anew. auditd sometimes misses a SIGCONT (about one
// in a few hundred here, with its plugin thread running), so the signal
// is sent again after each second without a new report.
func readState(pid int) (map[string]string, int, error) {
	prev := time.Time{}
	if fi, err := os.Stat(auditdState); err == nil {
		prev = fi.ModTime()
	}
	for try := range 10 {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			return nil, try, fmt.Errorf("signal auditd: %w", err)
		}
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			fi, err := os.Stat(auditdState)
			if err != nil || fi.ModTime().Equal(prev) {
				continue
			}
			b, err := os.ReadFile(auditdState)
			if err != nil {
				return nil, try, err
			}
			if m, ok := parseState(b); ok {
				return m, try, nil
			}
		}
	}
	return nil, 10, fmt.Errorf("no new %s within 10 s of 10 SIGCONTs; auditd's threads: %s", auditdState, taskStates(pid))
}

// parseState reads auditd's state report: its "key = value" lines. It is
// whole (ok) when it has the last line auditd 3.0.9 writes: auditd
// rewrites the file in place, so a reader can catch it half written.
func parseState(b []byte) (m map[string]string, ok bool) {
	m = map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, found := strings.Cut(line, " = "); found {
			m[k] = v
		}
	}
	_, ok = m["plugin queueing suspended"]
	return m, ok
}

// floodStop stops auditd (SIGTERM) and waits for it and its plugin to exit.
func (d *driver) floodStop(auditd *exec.Cmd, plugin int) error {
	if err := syscall.Kill(auditd.Process.Pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop auditd: %w", err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-d.exited:
			if plugin == 0 || !alive(plugin) {
				return nil
			}
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("auditd or its plugin still running 15s after SIGTERM")
		}
	}
}

// floodLog counts the round's log: records, bytes, the flood's own
// records (user: USER records with its tag; syscall: SYSCALL records with
// its key), sandbox refusals, and the largest backlog_max_depth reset
// logged after sinceMS (the kernel method resets the mark every interval).
func floodLog(mode string, sinceMS int64) (map[string]any, error) {
	f, err := os.Open(auditLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var records, size, flood, denials, resets int64
	var oldMax uint32
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		records++
		size += int64(len(line)) + 1
		switch {
		case mode == "user" && strings.HasPrefix(line, "type=USER ") && strings.Contains(line, " tag="+floodRule+" "),
			mode == "syscall" && strings.HasPrefix(line, "type=SYSCALL ") && strings.Contains(line, ` key="`+floodRule+`"`):
			flood++
		case strings.HasPrefix(line, "type=SECCOMP ") || strings.HasPrefix(line, "type=LANDLOCK_ACCESS "):
			denials++
		case strings.HasPrefix(line, "type=CONFIG_CHANGE ") && strings.Contains(line, "backlog_max_depth=0 old="):
			if _, ms := auditStamp(line); ms >= sinceMS {
				_, v, _ := strings.Cut(line, "backlog_max_depth=0 old=")
				v, _, _ = strings.Cut(v, " ")
				old, _ := strconv.ParseUint(v, 10, 32)
				oldMax, resets = max(oldMax, uint32(old)), resets+1
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", auditLog, err)
	}
	return map[string]any{"log_records": records, "log_bytes": size, "flood_records": flood,
		"denials": denials, "resets": resets, "reset_old_max": oldMax}, nil
}

// statsdSum sums the counts of metric name in the datagrams, by the value
// of their type tag ("" without one).
func statsdSum(grams []string, name string) map[string]int64 {
	sum := map[string]int64{}
	for _, g := range grams {
		for line := range strings.SplitSeq(g, "\n") {
			rest, ok := strings.CutPrefix(line, name+":")
			if !ok {
				continue
			}
			val, tags, _ := strings.Cut(rest, "|c")
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				continue
			}
			typ := ""
			if _, t, ok := strings.Cut(tags, "|#"); ok {
				for tag := range strings.SplitSeq(t, ",") {
					if v, ok := strings.CutPrefix(tag, "type:"); ok {
						typ = v
					}
				}
			}
			sum[typ] += n
		}
	}
	return sum
}

// pidByComm returns the pid of a live process named comm whose parent is
// ppid (any parent if ppid < 0), 0 if none.
func pidByComm(comm string, ppid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(st, '('), bytes.LastIndexByte(st, ')')
		if open < 0 || end < open || string(st[open+1:end]) != comm {
			continue
		}
		fields := strings.Fields(string(st[end+1:])) // state, ppid, ...
		if len(fields) > 1 && fields[0] != "Z" && (ppid < 0 || fields[1] == strconv.Itoa(ppid)) {
			return pid
		}
	}
	return 0
}

// procTicks returns a process's user+system CPU time in clock ticks, all
// its threads together; 0 for pid 0 or a process that is gone.
func procTicks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64) // utime, field 14
	s, _ := strconv.ParseInt(fields[12], 10, 64) // stime, field 15
	return u + s
}

// ctxSwitches returns the voluntary and involuntary context switches of
// a process's live threads; 0 for pid 0.
func ctxSwitches(pid int) int64 {
	if pid == 0 {
		return 0
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, _ := os.ReadDir(dir)
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}

// cpuTicks returns the CPU's busy and total ticks from /proc/stat.
func cpuTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for i, v := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest, guest_nice: already in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// syslogCount counts the syslog lines containing s.
func syslogCount(s string) int {
	b, _ := os.ReadFile(syslogFile)
	return bytes.Count(b, []byte(s))
}

// taskStates describes a process's threads: name, state and wait channel.
func taskStates(pid int) string {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, _ := os.ReadDir(dir)
	var out []string
	for _, t := range tasks {
		st, _ := os.ReadFile(dir + t.Name() + "/stat")
		wchan, _ := os.ReadFile(dir + t.Name() + "/wchan")
		stack, _ := os.ReadFile(dir + t.Name() + "/stack")
		out = append(out, fmt.Sprintf("[%s wchan=%s stack=%q]", strings.TrimSpace(string(st)), wchan, stack))
	}
	return strings.Join(out, " ")
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped for a
// full receive buffer (/proc/net/snmp), -1 if unknown.
func udpRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var names []string
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Udp: ")
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		for i, v := range strings.Fields(rest) {
			if i < len(names) && names[i] == "RcvbufErrors" {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
	}
	return -1
}
